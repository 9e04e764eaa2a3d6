//! Layer `plan`: IR -> petgraph DAG of steps with canonical content keys.
