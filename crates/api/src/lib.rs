//! ironrack-api
