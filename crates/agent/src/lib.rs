//! ironrack-agent
