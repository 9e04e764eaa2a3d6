//! Layer `diag`: diagnostic types, the registry of error codes and lints, the
//! one terminal renderer (miette) and the JSON conversion.
