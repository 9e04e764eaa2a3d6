//! The synthetic multilingual chat world used by the miniature experiments:
//! deterministic per seed, parallel text across languages.
