//! The content-addressed image and layer store under `<data-root>/image`.
