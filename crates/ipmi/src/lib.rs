//! IPMI 2.0 / RMCP+ (work in progress).
