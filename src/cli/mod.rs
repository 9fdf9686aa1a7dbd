//! The command-line interface (clap): parse, build the context, dispatch to `ops`.
