fn main() {
    std::process::exit(mtls_console::cli::main());
}
