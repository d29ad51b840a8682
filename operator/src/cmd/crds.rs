//! `colo crds`: the CustomResourceDefinitions generated from the Rust types in `colo-api`.

use std::io::Write;

/// All CRDs as one multi-document YAML stream, in a stable order.
pub fn yaml() -> anyhow::Result<String> {
    let mut out = String::new();
    for crd in colo_api::crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}

pub fn print(out: &mut impl Write) -> anyhow::Result<()> {
    out.write_all(yaml()?.as_bytes())?;
    Ok(())
}
