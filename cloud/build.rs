//! Embeds `migrations/cloud/*.sql` in the binary, in file-name order, so adding a migration is
//! adding a file.

use std::fmt::Write;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/cloud");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations/cloud exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for path in files {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("UTF-8 file name");
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(out, "    ({name:?}, include_str!({:?})),", path.display())
            .expect("write to string");
    }
    out.push(']');
    let target =
        Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR set by cargo")).join("migrations.rs");
    std::fs::write(target, out).expect("write migrations.rs");
}
