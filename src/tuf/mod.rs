//! The Notary-dialect TUF core: pure, synchronous, no I/O.
