// Empty: cargo builds a package's [build-dependencies] only if it has a build script, and
// hakari unifies the build-time crates (proc macros, build scripts) through them.
fn main() {}
