//! Validation of task submissions (the proto rules a buggy client could break).

use bytes::Bytes;
use tilebox_core::wire::workflows::v1 as wf;

use super::error::WfError;

/// Largest task input in bytes.
pub(crate) const MAX_INPUT: usize = 2048;
/// Most submission groups per submission.
pub(crate) const MAX_GROUPS: usize = 64;

/// One validated task of a submission.
#[derive(Debug, Clone)]
pub(crate) struct NewTask {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) major: i64,
    pub(crate) minor: i64,
    /// Empty = inherit (parent's cluster, or the default cluster for roots).
    pub(crate) cluster: String,
    pub(crate) display: String,
    pub(crate) input: Bytes,
    pub(crate) max_retries: i64,
    pub(crate) optional: bool,
}

/// One validated group.
#[derive(Debug, Clone)]
pub(crate) struct NewGroup {
    pub(crate) deps: Vec<usize>,
    pub(crate) tasks: Vec<NewTask>,
}

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

fn invalid(msg: impl Into<String>) -> WfError {
    WfError::invalid(msg)
}

/// Check an identifier and return its (major, minor).
pub(crate) fn check_identifier(id: &wf::TaskIdentifier) -> Result<(i64, i64), WfError> {
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

fn pointer<'a, T>(lookup: &'a [T], ptr: u64, what: &str, group: usize) -> Result<&'a T, WfError> {
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
pub(crate) fn validate_submissions(subs: &wf::TaskSubmissions) -> Result<Vec<NewGroup>, WfError> {
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
                String::new()
            } else {
                pointer(
                    &subs.cluster_slug_lookup,
                    group.cluster_slug_pointers[i],
                    "cluster",
                    g,
                )?
                .clone()
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

#[cfg(test)]
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
}
