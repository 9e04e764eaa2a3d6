//! `inoc graph`.

/// Arguments of `inoc graph`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Positional inputs.
    pub inputs: Vec<String>,
}

pub fn run(_args: Args) -> u8 {
    super::not_yet("graph")
}
