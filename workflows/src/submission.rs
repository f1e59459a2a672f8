//! Building `TaskSubmissions`: subtask options, dependency handles and the group compression of the wire
//! format (tasks sharing the same dependencies *and* dependants travel as one group; at most 64 groups).

use std::collections::HashMap;

use bytes::Bytes;
use tilebox_core::wire::workflows::v1 as wf;

use crate::error::{Result, WorkflowsError};
use crate::task::TaskIdentifier;

/// Most dependency groups per submission.
pub const MAX_GROUPS: usize = 64;

/// A handle to a task submitted in the same batch, used to declare dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FutureTask {
    pub(crate) owner: u64,
    pub(crate) index: usize,
}

impl FutureTask {
    /// The position of the task in its submission.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// Options of one submitted subtask.
#[derive(Debug, Clone, Default)]
pub struct SubtaskOptions {
    pub(crate) depends_on: Vec<FutureTask>,
    pub(crate) cluster: Option<String>,
    pub(crate) max_retries: i64,
    pub(crate) optional: bool,
    pub(crate) display: Option<String>,
}

impl SubtaskOptions {
    /// Default options: no dependencies, the runner's cluster, no retries, not optional.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run only once these tasks (and their whole subtrees) have completed.
    pub fn depends_on<'a>(mut self, tasks: impl IntoIterator<Item = &'a FutureTask>) -> Self {
        self.depends_on.extend(tasks.into_iter().copied());
        self
    }

    /// Run on another cluster (slug).
    pub fn cluster(mut self, slug: impl Into<String>) -> Self {
        self.cluster = Some(slug.into());
        self
    }

    /// Retry up to `n` times after a failure (the task runs at most `n + 1` times).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = i64::from(n);
        self
    }

    /// A failure of this task (or below it) does not fail the job.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// A display name other than the task type's default.
    pub fn display(mut self, display: impl Into<String>) -> Self {
        self.display = Some(display.into());
        self
    }
}

/// One task ready to be grouped.
#[derive(Debug, Clone)]
pub(crate) struct PendingTask {
    pub(crate) identifier: TaskIdentifier,
    pub(crate) input: Vec<u8>,
    pub(crate) display: String,
    /// Empty = the default (runner's cluster for subtasks, the default cluster for jobs).
    pub(crate) cluster: String,
    pub(crate) max_retries: i64,
    pub(crate) optional: bool,
    pub(crate) depends_on: Vec<usize>,
}

fn intern<T: Clone + Eq + std::hash::Hash>(
    lookup: &mut Vec<T>,
    index: &mut HashMap<T, u64>,
    value: &T,
) -> u64 {
    if let Some(&i) = index.get(value) {
        return i;
    }
    let i = lookup.len() as u64;
    lookup.push(value.clone());
    index.insert(value.clone(), i);
    i
}

/// Group `tasks` into the wire format. Dependencies must point at earlier tasks.
pub(crate) fn build_submissions(tasks: &[PendingTask]) -> Result<wf::TaskSubmissions> {
    let n = tasks.len();
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(n);
    for (i, t) in tasks.iter().enumerate() {
        let mut d = t.depends_on.clone();
        d.sort_unstable();
        d.dedup();
        if let Some(&bad) = d.iter().find(|&&d| d >= i) {
            return Err(WorkflowsError::InvalidDependency(format!(
                "task {i} depends on task {bad}, which was not submitted before it"
            )));
        }
        deps.push(d);
    }
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            dependants[j].push(i);
        }
    }
    let mut group_of_key: HashMap<(&[usize], &[usize]), usize> = HashMap::new();
    let mut group_of_task = Vec::with_capacity(n);
    let mut members: Vec<Vec<usize>> = Vec::new();
    for i in 0..n {
        let key = (deps[i].as_slice(), dependants[i].as_slice());
        let g = *group_of_key.entry(key).or_insert_with(|| {
            members.push(Vec::new());
            members.len() - 1
        });
        members[g].push(i);
        group_of_task.push(g);
    }
    if members.len() > MAX_GROUPS {
        return Err(WorkflowsError::TooManyGroups {
            groups: members.len(),
            limit: MAX_GROUPS,
        });
    }
    let mut out = wf::TaskSubmissions::default();
    let (mut clusters, mut idents, mut displays) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut ident_keys: Vec<TaskIdentifier> = Vec::new();
    for group in &members {
        let first = group[0];
        let mut group_deps: Vec<u32> = deps[first]
            .iter()
            .map(|&d| group_of_task[d] as u32)
            .collect();
        group_deps.sort_unstable();
        group_deps.dedup();
        let mut g = wf::TaskSubmissionGroup {
            dependencies_on_other_groups: group_deps,
            ..Default::default()
        };
        let any_optional = group.iter().any(|&i| tasks[i].optional);
        for &i in group {
            let t = &tasks[i];
            g.inputs.push(Bytes::from(t.input.clone()));
            g.identifier_pointers
                .push(intern(&mut ident_keys, &mut idents, &t.identifier));
            g.cluster_slug_pointers.push(intern(
                &mut out.cluster_slug_lookup,
                &mut clusters,
                &t.cluster,
            ));
            let display = if t.display.is_empty() {
                t.identifier.name().to_owned()
            } else {
                t.display.clone()
            };
            g.display_pointers
                .push(intern(&mut out.display_lookup, &mut displays, &display));
            g.max_retries_values.push(t.max_retries);
            if any_optional {
                g.optional_values.push(t.optional);
            }
        }
        out.task_groups.push(g);
    }
    out.identifier_lookup = ident_keys.iter().map(TaskIdentifier::to_wire).collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, deps: &[usize]) -> PendingTask {
        PendingTask {
            identifier: TaskIdentifier::new(name, "v1.0"),
            input: b"{}".to_vec(),
            display: String::new(),
            cluster: String::new(),
            max_retries: 0,
            optional: false,
            depends_on: deps.to_vec(),
        }
    }

    #[test]
    fn fibonacci_shape_is_two_groups() {
        let s = build_submissions(&[t("F", &[]), t("F", &[]), t("S", &[0, 1])]).expect("groups");
        assert_eq!(s.task_groups.len(), 2);
        assert_eq!(s.task_groups[0].inputs.len(), 2);
        assert_eq!(s.task_groups[1].dependencies_on_other_groups, vec![0]);
        assert_eq!(s.identifier_lookup.len(), 2);
        assert_eq!(s.display_lookup, vec!["F".to_owned(), "S".to_owned()]);
    }

    #[test]
    fn map_reduce_is_two_groups() {
        let mut tasks: Vec<_> = (0..1000).map(|_| t("Map", &[])).collect();
        tasks.push(t("Reduce", &(0..1000).collect::<Vec<_>>()));
        assert_eq!(
            build_submissions(&tasks).expect("groups").task_groups.len(),
            2
        );
    }

    #[test]
    fn long_chain_is_rejected() {
        let tasks: Vec<_> = (0..70)
            .map(|i| {
                if i == 0 {
                    t("C", &[])
                } else {
                    t("C", &[i - 1])
                }
            })
            .collect();
        let err = build_submissions(&tasks).expect_err("too many groups");
        assert!(
            matches!(
                err,
                WorkflowsError::TooManyGroups {
                    groups: 70,
                    limit: 64
                }
            ),
            "{err}"
        );
        let ok: Vec<_> = (0..64)
            .map(|i| {
                if i == 0 {
                    t("C", &[])
                } else {
                    t("C", &[i - 1])
                }
            })
            .collect();
        assert_eq!(
            build_submissions(&ok).expect("64 groups").task_groups.len(),
            64
        );
    }

    #[test]
    fn forward_dependency_is_rejected() {
        assert!(build_submissions(&[t("A", &[1]), t("B", &[])]).is_err());
    }
}
