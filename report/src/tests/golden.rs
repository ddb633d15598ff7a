//! An http-only run renders byte for byte as it did before the report learned of https
//! cells: the golden file was rendered from this fixture by the report of 6ef859f. Two
//! lines have changed since, by hand, each naming a command that moved: `loadgen report`
//! (now `bench report`, this crate) and `servers/cpu.sh` (now `bench cpu`).

use super::summary::summary_fixture;
use super::*;

#[test]
fn an_http_only_run_renders_exactly_as_before_https_cells() {
    let dir = TempDir::new("golden");
    summary_fixture(&dir.0);
    let md = report(&dir.0);
    assert_eq!(md, include_str!("golden/http-only.md"));
}
