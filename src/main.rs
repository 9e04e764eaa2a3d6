fn main() -> std::process::ExitCode {
    inoc::runtime::configure_threads();
    inoc::cli::main()
}
