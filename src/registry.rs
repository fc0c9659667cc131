//! A Registry HTTP API V2 client: manifests and blobs by digest.
