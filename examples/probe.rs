//! Dev probe: `cargo run --example probe FILE MODULE [--315]` prints the slot reader's finding.
use gilfree::inspect::{Binary, slots};
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let data = std::fs::read(&a[1]).unwrap();
    let module = &a[2];
    let short = module.rsplit('.').next().unwrap();
    let bin = match Binary::parse(&data, None) {
        Ok(b) => b,
        Err(e) => {
            println!("ERR {e}");
            return;
        }
    };
    let req = slots::Request {
        module,
        init_hook: &format!("PyInit_{short}"),
        export_hook: &format!("PyModExport_{short}"),
        py315: a.len() > 3,
    };
    let f = slots::read(&bin, &req, &slots::NoLibraries);
    println!(
        "{:?} {:?} {} | {:?}",
        f.verdict,
        f.reason,
        f.evidence,
        gilfree::inspect::binder::detect(&data)
    );
}
