"""The byte-for-byte data path: fetch raw batches, rewrite headers, produce, track deliveries."""
