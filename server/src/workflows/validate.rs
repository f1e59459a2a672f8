//! Validation of task submissions (the proto rules a buggy client could break).

// The legacy submission fields are still accepted from old clients.
#![allow(deprecated)]

use tilebox_core::wire::workflows::v1 as wf;

use crate::status::Status;
use crate::store::workflows::{NewGroup, NewTask, ProgressRecord};

/// Largest task input in bytes.
pub(crate) const MAX_INPUT: usize = 2048;
/// Most submission groups per submission.
pub(crate) const MAX_GROUPS: usize = 64;
/// Most tasks of a legacy (one task per group) submission.
const MAX_LEGACY_TASKS: usize = 1000;
/// Most progress indicators per report.
const MAX_PROGRESS: usize = 1000;
/// Longest progress label in characters.
const MAX_LABEL: usize = 100;
/// Longest display name of a failure report in bytes (longer ones are cut).
const MAX_FAILURE_DISPLAY: usize = 1024;

/// Parse `vMAJOR.MINOR`.
pub(crate) fn parse_version(version: &str) -> Option<(i64, i64)> {
    let rest = version.strip_prefix('v')?;
    let (major, minor) = rest.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn invalid(msg: impl Into<String>) -> Status {
    Status::invalid_argument(msg)
}

/// Check an identifier and return its (major, minor).
pub(crate) fn check_identifier(id: &wf::TaskIdentifier) -> Result<(i64, i64), Status> {
    if id.name.is_empty() || id.name.len() > 256 {
        return Err(invalid(format!(
            "task name must be 1..=256 bytes, got {} bytes",
            id.name.len()
        )));
    }
    parse_version(&id.version).ok_or_else(|| {
        invalid(format!(
            "task version {:?} of {:?} does not match ^v(\\d+)\\.(\\d+)$",
            id.version, id.name
        ))
    })
}

fn pointer<'a, T>(lookup: &'a [T], ptr: u64, what: &str, group: usize) -> Result<&'a T, Status> {
    usize::try_from(ptr)
        .ok()
        .and_then(|p| lookup.get(p))
        .ok_or_else(|| {
            invalid(format!(
                "group {group}: {what} pointer {ptr} is out of range ({} entries)",
                lookup.len()
            ))
        })
}

/// Validate a `TaskSubmissions` message into groups of tasks.
pub(crate) fn submissions(subs: &wf::TaskSubmissions) -> Result<Vec<NewGroup>, Status> {
    let n = subs.task_groups.len();
    if n == 0 {
        return Err(invalid("at least one task group is required"));
    }
    if n > MAX_GROUPS {
        return Err(invalid(format!(
            "at most {MAX_GROUPS} task groups per submission, got {n}"
        )));
    }
    let mut idents = Vec::with_capacity(subs.identifier_lookup.len());
    for id in &subs.identifier_lookup {
        idents.push(check_identifier(id)?);
    }
    for d in &subs.display_lookup {
        if d.is_empty() {
            return Err(invalid("display_lookup entries must not be empty"));
        }
    }
    let mut groups = Vec::with_capacity(n);
    for (g, group) in subs.task_groups.iter().enumerate() {
        let len = group.inputs.len();
        if len == 0 {
            return Err(invalid(format!(
                "group {g}: a group needs at least one task"
            )));
        }
        if group.identifier_pointers.len() != len
            || group.cluster_slug_pointers.len() != len
            || group.display_pointers.len() != len
            || group.max_retries_values.len() != len
            || !(group.optional_values.is_empty() || group.optional_values.len() == len)
        {
            return Err(invalid(format!(
                "group {g}: identifier, cluster, display, max_retries and optional arrays must match the {len} inputs"
            )));
        }
        let mut deps = Vec::new();
        for &d in &group.dependencies_on_other_groups {
            let d = d as usize;
            if d >= n {
                return Err(invalid(format!(
                    "group {g}: dependency on group {d} is out of range ({n} groups)"
                )));
            }
            if d == g {
                return Err(invalid(format!("group {g} depends on itself")));
            }
            if !deps.contains(&d) {
                deps.push(d);
            }
        }
        let mut tasks = Vec::with_capacity(len);
        for i in 0..len {
            let input = group.inputs[i].clone();
            if input.len() > MAX_INPUT {
                return Err(invalid(format!(
                    "group {g}, task {i}: input is {} bytes, the limit is {MAX_INPUT}",
                    input.len()
                )));
            }
            let id_ptr = group.identifier_pointers[i];
            let ident = pointer(&subs.identifier_lookup, id_ptr, "identifier", g)?;
            let (major, minor) = *pointer(&idents, id_ptr, "identifier", g)?;
            let cluster = if subs.cluster_slug_lookup.is_empty() {
                None
            } else {
                Some(pointer(
                    &subs.cluster_slug_lookup,
                    group.cluster_slug_pointers[i],
                    "cluster",
                    g,
                )?)
                .filter(|c| !c.is_empty())
                .cloned()
            };
            let display = if subs.display_lookup.is_empty() {
                ident.name.clone()
            } else {
                pointer(
                    &subs.display_lookup,
                    group.display_pointers[i],
                    "display",
                    g,
                )?
                .clone()
            };
            let max_retries = group.max_retries_values[i];
            if max_retries < 0 {
                return Err(invalid(format!(
                    "group {g}, task {i}: max_retries must be >= 0"
                )));
            }
            tasks.push(NewTask {
                name: ident.name.clone(),
                version: ident.version.clone(),
                major,
                minor,
                cluster,
                display,
                input,
                max_retries,
                optional: group.optional_values.get(i).copied().unwrap_or(false),
            });
        }
        groups.push(NewGroup { deps, tasks });
    }
    // Cycle check (Kahn).
    let mut indegree: Vec<usize> = groups.iter().map(|g| g.deps.len()).collect();
    let mut ready: Vec<usize> = (0..n).filter(|&g| indegree[g] == 0).collect();
    let mut seen = 0;
    while let Some(g) = ready.pop() {
        seen += 1;
        for (h, other) in groups.iter().enumerate() {
            if other.deps.contains(&g) {
                indegree[h] -= 1;
                if indegree[h] == 0 {
                    ready.push(h);
                }
            }
        }
    }
    if seen != n {
        return Err(invalid("the group dependencies form a cycle"));
    }
    Ok(groups)
}

/// Task groups of a submission: the grouped form, or the legacy list of single tasks (one group each).
pub(crate) fn task_groups(
    groups: Option<&wf::TaskSubmissions>,
    legacy: &[wf::SingleTaskSubmission],
) -> Result<Vec<NewGroup>, Status> {
    match groups {
        Some(t) if !t.task_groups.is_empty() => submissions(t),
        _ if !legacy.is_empty() => legacy_groups(legacy),
        _ => Ok(Vec::new()),
    }
}

/// Turns legacy single-task submissions into one group per task (dependencies by index).
fn legacy_groups(tasks: &[wf::SingleTaskSubmission]) -> Result<Vec<NewGroup>, Status> {
    if tasks.len() > MAX_LEGACY_TASKS {
        return Err(invalid(format!(
            "at most {MAX_LEGACY_TASKS} legacy tasks per submission"
        )));
    }
    if tasks.len() > MAX_GROUPS {
        return Err(invalid(format!(
            "legacy submissions with more than {MAX_GROUPS} tasks are not supported"
        )));
    }
    let mut subs = wf::TaskSubmissions::default();
    for (i, t) in tasks.iter().enumerate() {
        let ident = t
            .identifier
            .clone()
            .ok_or_else(|| invalid(format!("legacy task {i}: identifier missing")))?;
        subs.identifier_lookup.push(ident);
        subs.cluster_slug_lookup.push(t.cluster_slug.clone());
        subs.display_lookup.push(if t.display.is_empty() {
            "task".to_owned()
        } else {
            t.display.clone()
        });
        let mut deps = Vec::new();
        for &d in &t.dependencies {
            let d = u32::try_from(d)
                .map_err(|_| invalid(format!("legacy task {i}: bad dependency {d}")))?;
            deps.push(d);
        }
        subs.task_groups.push(wf::TaskSubmissionGroup {
            dependencies_on_other_groups: deps,
            inputs: vec![t.input.clone()],
            identifier_pointers: vec![i as u64],
            cluster_slug_pointers: vec![i as u64],
            display_pointers: vec![i as u64],
            max_retries_values: vec![t.max_retries],
            optional_values: vec![],
        });
    }
    submissions(&subs)
}

/// Progress indicators of a report: at most 1,000, labels of at most 100 characters.
pub(crate) fn progress(updates: &[wf::Progress]) -> Result<Vec<ProgressRecord>, Status> {
    if updates.len() > MAX_PROGRESS {
        return Err(invalid(format!(
            "at most {MAX_PROGRESS} progress indicators per task"
        )));
    }
    updates
        .iter()
        .map(|p| {
            if p.label.chars().count() > MAX_LABEL {
                return Err(invalid(format!(
                    "progress labels are at most {MAX_LABEL} characters"
                )));
            }
            Ok(ProgressRecord {
                label: p.label.clone(),
                total: p.total,
                done: p.done,
            })
        })
        .collect()
}

/// A reported display name: `None` when empty (keep the old one), cut to 1,024 bytes on a char boundary.
pub(crate) fn display(display: &str) -> Option<String> {
    if display.is_empty() {
        return None;
    }
    let mut end = display.len().min(MAX_FAILURE_DISPLAY);
    while !display.is_char_boundary(end) {
        end -= 1;
    }
    Some(display[..end].to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("v1.3"), Some((1, 3)));
        assert_eq!(parse_version("v10.0"), Some((10, 0)));
        assert_eq!(parse_version("1.3"), None);
        assert_eq!(parse_version("v1."), None);
        assert_eq!(parse_version("v1.3.4"), None);
    }

    #[test]
    fn displays_are_cut_on_char_boundaries() {
        assert_eq!(display(""), None);
        let long = "é".repeat(600);
        let cut = display(&long).unwrap();
        assert_eq!(cut.len(), 1024);
        assert!(long.starts_with(&cut));
    }
}
