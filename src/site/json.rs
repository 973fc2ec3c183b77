//! JSON for machines: `api/projects.json` (every project of the shown run with its
//! headline readiness per interpreter, judged over the main platforms as in
//! [`super::tier`], and its readiness per platform) and `api/projects/NAME.json` (one native
//! project with its releases and modules). Schema 2; readiness and verdict use the CLI's
//! vocabulary.

use serde_json::{Map, Value, json};

use super::data::{Also, PlatformCells, ProjectData, SiteData, serde_name};
use super::tier::MAIN_PLATFORMS;
use super::{Output, SiteError, project_badge, slug};

/// The JSON schema version of these files.
pub const SCHEMA: u32 = 2;

fn cells(pythons: &[String], platforms: &[PlatformCells]) -> Value {
    let mut out = Map::new();
    for pc in platforms {
        let mut per = Map::new();
        for (py, r) in pythons.iter().zip(&pc.cells) {
            if let Some(r) = r {
                per.insert(py.clone(), Value::String(r.as_str().into()));
            }
        }
        out.insert(pc.platform.clone(), Value::Object(per));
    }
    Value::Object(out)
}

/// The platforms outside the headline, per interpreter: `{"3.14t": {"unknown": [...]}}`.
fn also(pythons: &[String], also: &[Also]) -> Value {
    Value::Object(
        pythons
            .iter()
            .zip(also)
            .filter(|(_, a)| !a.is_empty())
            .map(|(py, groups)| {
                let per: Map<String, Value> = groups
                    .iter()
                    .map(|(r, plats)| (r.as_str().to_string(), json!(plats)))
                    .collect();
                (py.clone(), Value::Object(per))
            })
            .collect(),
    )
}

/// The summary of one project, as listed in `projects.json`.
fn project_summary(site: &SiteData, p: &ProjectData) -> Value {
    let by_python = |values: &[Option<String>]| -> Value {
        Value::Object(
            site.pythons
                .iter()
                .zip(values)
                .map(|(py, v)| (py.clone(), v.clone().map_or(Value::Null, Value::String)))
                .collect(),
        )
    };
    let readiness: Vec<Option<String>> = p
        .summary
        .iter()
        .map(|r| r.map(|r| r.as_str().to_string()))
        .collect();
    let name = slug(&p.name);
    let base = site.base_url.as_deref().unwrap_or("");
    json!({
        "name": p.name,
        "rank": p.rank,
        "latest": p.latest,
        "error": p.error,
        "native": p.native,
        "readiness": by_python(&readiness),
        "also": also(&site.pythons, &p.also),
        "platforms": cells(&site.pythons, &p.platforms),
        "first_ready": by_python(&p.first_ready),
        "first_free_threaded_wheel": by_python(&p.first_free_threaded_wheel),
        "first_ready_proven": Value::Object(site.pythons.iter().cloned().zip(p.first_ready_proven.iter().map(|b| Value::Bool(*b))).collect()),
        "first_ready_note": by_python(&p.first_ready_note),
        "since": Value::Object(p.since.iter().map(|s| (s.platform.clone(), by_python(&s.versions))).collect()),
        "classifiers": p.classifiers,
        "disagreement": p.disagreement,
        "links": p.links,
        "page": format!("{base}projects/{name}.html"),
        "json": p.native.then(|| format!("{base}api/projects/{name}.json")),
        "badges": Value::Object(site.pythons.iter().zip(&p.summary).map(|(py, r)| (py.clone(), Value::String(format!("{base}{}", project_badge(p, py, *r))))).collect()),
    })
}

/// Writes both kinds of file.
pub(crate) fn write_all(site: &SiteData, out: &mut Output) -> Result<(), SiteError> {
    let all = json!({
        "schema": SCHEMA,
        "generated_at": site.generated_at,
        "base_url": site.base_url,
        "run": site.run,
        "pythons": site.pythons,
        "main_platforms": MAIN_PLATFORMS,
        "platforms": site.platforms,
        "projects": site.projects.iter().map(|p| project_summary(site, p)).collect::<Vec<_>>(),
    });
    // The list of every project is read by programs: one line, no indentation.
    let mut compact = all.to_string();
    compact.push('\n');
    out.write("api/projects.json", compact.as_bytes())?;
    // Every project name by rank, for the projects tables' search across their pages.
    let names: Vec<&str> = site.projects.iter().map(|p| p.name.as_str()).collect();
    let mut names = serde_json::to_string(&names).expect("names serialize");
    names.push('\n');
    out.write("api/names.json", names.as_bytes())?;
    // Projects without native code have no modules or history worth a file of their own:
    // their entry in projects.json says everything.
    for p in site.projects.iter().filter(|p| p.native) {
        let mut one = project_summary(site, p);
        if let Value::Object(map) = &mut one {
            map.insert("schema".into(), json!(SCHEMA));
            map.insert("generated_at".into(), json!(site.generated_at));
            let releases: Vec<Value> = p
                .releases
                .iter()
                .map(|r| {
                    json!({"version": r.version, "uploaded": r.uploaded,
                           "platforms": cells(&site.pythons, &r.platforms)})
                })
                .collect();
            map.insert("releases".into(), Value::Array(releases));
            let modules: Vec<Value> = p
                .modules
                .iter()
                .map(|m| {
                    json!({"python": m.python, "platform": m.platform, "filename": m.filename,
                           "module": m.module, "member": m.member,
                           "verdict": serde_name(&m.verdict), "reason": m.reason,
                           "reason_text": m.reason_words,
                           "binder": m.binder, "evidence": m.evidence, "fix": m.fix})
                })
                .collect();
            map.insert("modules".into(), Value::Array(modules));
        }
        let path = format!("api/projects/{}.json", slug(&p.name));
        out.write(&path, pretty(&one).as_bytes())?;
    }
    Ok(())
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    s.push('\n');
    s
}
