fn main() -> std::process::ExitCode {
    leafbridge::cli::main()
}
