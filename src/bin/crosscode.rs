use clap::Parser;

fn main() {
    let cli = crosscode::cli::Cli::parse();
    if let Err(e) = crosscode::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
