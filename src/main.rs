fn main() -> std::process::ExitCode {
    inoc::cli::main()
}
