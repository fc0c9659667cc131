//! Safe extraction of image layers (tar, gzip) with whiteouts, kept inside the target.
