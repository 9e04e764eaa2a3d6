//! Layer `exec`: runs a plan on the local machine, in dependency order.
