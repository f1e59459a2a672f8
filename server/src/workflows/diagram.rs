//! `VisualizeJob`: a job's task tree drawn as a self-contained SVG document.
//!
//! The hosted service renders D2 diagrams; the local server draws its own: one box per task (display name
//! and state, coloured by state), each subtask under its parent, tasks laid out as a tidy tree (leaves side
//! by side, parents centred over their subtasks). Large jobs draw their first tasks and say how many more
//! there are.

use std::collections::HashMap;
use std::fmt::Write as _;

use tilebox_core::wire::workflows::v1::{TaskState, VisualizeJobRequest, WorkflowDiagramTheme};

use crate::store::RawId;
use crate::store::workflows::JobRecord;

/// Most tasks drawn.
const MAX_NODES: usize = 500;
/// Box size and gaps in pixels.
const NODE_W: f64 = 190.0;
const NODE_H: f64 = 46.0;
const GAP_ACROSS: f64 = 20.0;
const GAP_ALONG: f64 = 50.0;
/// Longest display name drawn, in characters.
const MAX_LABEL: usize = 26;

/// How to draw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Options {
    /// Subtasks to the right of their parent instead of below.
    horizontal: bool,
    /// Reverse the direction (up / left).
    reversed: bool,
    dark: bool,
    padding: f64,
    include_job_name: bool,
}

impl Options {
    pub(crate) fn from_request(req: &VisualizeJobRequest) -> Options {
        let render = req.render_options.clone().unwrap_or_default();
        let direction = render.direction.to_ascii_lowercase();
        let theme = WorkflowDiagramTheme::try_from(req.theme).unwrap_or_default();
        Options {
            horizontal: matches!(direction.as_str(), "right" | "left"),
            reversed: matches!(direction.as_str(), "up" | "left"),
            dark: matches!(
                theme,
                WorkflowDiagramTheme::Dark | WorkflowDiagramTheme::ConsoleDark
            ),
            padding: render.padding.clamp(0, 200) as f64,
            include_job_name: req.include_job_name,
        }
    }
}

fn state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Queued => "queued",
        TaskState::Running => "running",
        TaskState::Computed => "computed",
        TaskState::Failed => "failed",
        TaskState::Skipped => "skipped",
        TaskState::FailedOptional => "failed (optional)",
        TaskState::Unspecified => "unknown",
    }
}

/// Fill and stroke of a task box.
fn colors(state: TaskState, dark: bool) -> (&'static str, &'static str) {
    match (state, dark) {
        (TaskState::Computed, false) => ("#dcfce7", "#16a34a"),
        (TaskState::Computed, true) => ("#14532d", "#4ade80"),
        (TaskState::Running, false) => ("#dbeafe", "#2563eb"),
        (TaskState::Running, true) => ("#1e3a8a", "#60a5fa"),
        (TaskState::Failed, false) => ("#fee2e2", "#dc2626"),
        (TaskState::Failed, true) => ("#7f1d1d", "#f87171"),
        (TaskState::FailedOptional, false) => ("#fef3c7", "#d97706"),
        (TaskState::FailedOptional, true) => ("#78350f", "#fbbf24"),
        (_, false) => ("#f3f4f6", "#6b7280"),
        (_, true) => ("#374151", "#9ca3af"),
    }
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
}

fn label(display: &str) -> String {
    if display.chars().count() <= MAX_LABEL {
        display.to_owned()
    } else {
        let mut s: String = display.chars().take(MAX_LABEL - 1).collect();
        s.push('…');
        s
    }
}

/// Draws the job's task tree (the job must have been loaded with its tasks).
pub(crate) fn render(job: &JobRecord, options: &Options) -> String {
    let tasks = &job.tasks[..job.tasks.len().min(MAX_NODES)];
    let index: HashMap<RawId, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); tasks.len()];
    let mut roots = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        match t.parent_id.and_then(|p| index.get(&p)) {
            Some(&p) => children[p].push(i),
            None => roots.push(i),
        }
    }
    // Tidy tree: leaves take consecutive slots across; a parent sits over the middle of its subtasks.
    // Ids grow with submission time, so a parent always comes before its subtasks.
    let mut across = vec![0.0f64; tasks.len()];
    let mut depth = vec![0usize; tasks.len()];
    let mut next_slot = 0.0;
    let mut stack: Vec<(usize, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
    while let Some((i, visited)) = stack.pop() {
        if visited || children[i].is_empty() {
            if children[i].is_empty() {
                across[i] = next_slot;
                next_slot += 1.0;
            } else {
                let first = across[children[i][0]];
                let last = across[children[i][children[i].len() - 1]];
                across[i] = (first + last) / 2.0;
            }
            continue;
        }
        stack.push((i, true));
        for &c in children[i].iter().rev() {
            depth[c] = depth[i] + 1;
            stack.push((c, false));
        }
    }
    let levels = depth.iter().max().map_or(0, |d| d + 1);
    let pad = options.padding + 10.0;
    let header = if options.include_job_name { 34.0 } else { 0.0 };
    let footer = if job.tasks.len() > tasks.len() {
        30.0
    } else {
        0.0
    };
    let (slot_across, slot_along) = if options.horizontal {
        (NODE_H + GAP_ACROSS, NODE_W + GAP_ALONG)
    } else {
        (NODE_W + GAP_ACROSS, NODE_H + GAP_ALONG)
    };
    let span_across = next_slot.max(1.0) * slot_across - GAP_ACROSS;
    let span_along = levels.max(1) as f64 * slot_along - GAP_ALONG;
    let (width, height) = if options.horizontal {
        (
            span_along + 2.0 * pad,
            span_across + 2.0 * pad + header + footer,
        )
    } else {
        (
            span_across + 2.0 * pad,
            span_along + 2.0 * pad + header + footer,
        )
    };
    let width = width.max(NODE_W + 2.0 * pad);
    // Top-left corner of each task's box.
    let position = |i: usize| -> (f64, f64) {
        let along_level = if options.reversed {
            levels - 1 - depth[i]
        } else {
            depth[i]
        } as f64;
        let a = across[i] * slot_across;
        let b = along_level * slot_along;
        if options.horizontal {
            (pad + b, pad + header + a)
        } else {
            (pad + a, pad + header + b)
        }
    };
    let (background, text) = if options.dark {
        ("#111827", "#f9fafb")
    } else {
        ("#ffffff", "#111827")
    };
    let mut svg = String::with_capacity(512 + tasks.len() * 400);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="13">"#
    );
    let _ = write!(
        svg,
        r#"<rect width="100%" height="100%" fill="{background}"/>"#
    );
    if options.include_job_name {
        let _ = write!(
            svg,
            r#"<text x="{pad:.0}" y="{:.0}" font-size="16" font-weight="bold" fill="{text}">"#,
            pad + 18.0
        );
        escape(&job.name, &mut svg);
        svg.push_str("</text>");
    }
    for (i, t) in tasks.iter().enumerate() {
        if let Some(&p) = t.parent_id.as_ref().and_then(|p| index.get(p)) {
            let (px, py) = position(p);
            let (cx, cy) = position(i);
            let ((x1, y1), (x2, y2)) = if options.horizontal {
                let (from, to) = if options.reversed {
                    (px, cx + NODE_W)
                } else {
                    (px + NODE_W, cx)
                };
                ((from, py + NODE_H / 2.0), (to, cy + NODE_H / 2.0))
            } else {
                let (from, to) = if options.reversed {
                    (py, cy + NODE_H)
                } else {
                    (py + NODE_H, cy)
                };
                ((px + NODE_W / 2.0, from), (cx + NODE_W / 2.0, to))
            };
            let _ = write!(
                svg,
                r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{text}" stroke-opacity="0.5"/>"#
            );
        }
    }
    for (i, t) in tasks.iter().enumerate() {
        let (x, y) = position(i);
        let (fill, stroke) = colors(t.state, options.dark);
        let _ = write!(
            svg,
            r#"<g class="task" data-id="{}"><title>"#,
            uuid::Uuid::from_bytes(t.id)
        );
        escape(&t.display, &mut svg);
        let _ = write!(
            svg,
            r#" ({})</title><rect x="{x:.1}" y="{y:.1}" width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"#,
            state_name(t.state)
        );
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{text}">"#,
            x + NODE_W / 2.0,
            y + 19.0
        );
        escape(&label(&t.display), &mut svg);
        let _ = write!(
            svg,
            r#"</text><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="{stroke}">{}</text></g>"#,
            x + NODE_W / 2.0,
            y + 36.0,
            state_name(t.state)
        );
    }
    if job.tasks.len() > tasks.len() {
        let _ = write!(
            svg,
            r#"<text x="{pad:.0}" y="{:.0}" fill="{text}">… and {} more tasks</text>"#,
            height - pad,
            job.tasks.len() - tasks.len()
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::workflows::{JobStats, TaskSummaryRecord};
    use tilebox_core::wire::workflows::v1::JobState;

    fn task(n: u8, parent: Option<u8>, display: &str, state: TaskState) -> TaskSummaryRecord {
        TaskSummaryRecord {
            id: [n; 16],
            parent_id: parent.map(|p| [p; 16]),
            display: display.into(),
            state,
            started_at_us: None,
            stopped_at_us: None,
        }
    }

    fn job(tasks: Vec<TaskSummaryRecord>) -> JobRecord {
        JobRecord {
            id: [9; 16],
            name: "a <job> & more".into(),
            trace_parent: String::new(),
            automation_id: None,
            submitted_at_us: 0,
            canceled: false,
            state: JobState::Running,
            progress: Vec::new(),
            stats: JobStats::default(),
            tasks,
        }
    }

    const DOWN: Options = Options {
        horizontal: false,
        reversed: false,
        dark: false,
        padding: 5.0,
        include_job_name: true,
    };

    #[test]
    fn draws_every_task_under_its_parent() {
        let j = job(vec![
            task(1, None, "Root", TaskState::Computed),
            task(2, Some(1), "Left", TaskState::Running),
            task(3, Some(1), "Right & <b>", TaskState::Queued),
        ]);
        let svg = render(&j, &DOWN);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<g class=\"task\"").count(), 3);
        assert_eq!(svg.matches("<line ").count(), 2);
        assert!(svg.contains("Right &amp; &lt;b&gt;"));
        assert!(svg.contains("a &lt;job&gt; &amp; more"));
        assert!(!svg.contains("<b>"));
        // The root is centred over its two leaves: x of the root box is half-way between theirs.
        let xs: Vec<f64> = svg
            .match_indices("<rect x=\"")
            .map(|(i, m)| {
                let rest = &svg[i + m.len()..];
                rest[..rest.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert_eq!(xs.len(), 3);
        assert!((xs[0] - (xs[1] + xs[2]) / 2.0).abs() < 1e-6, "{xs:?}");
    }

    #[test]
    fn large_jobs_are_cut() {
        let tasks = (0..MAX_NODES + 3)
            .map(|i| TaskSummaryRecord {
                id: (i as u128).to_be_bytes(),
                parent_id: None,
                display: format!("t{i}"),
                state: TaskState::Queued,
                started_at_us: None,
                stopped_at_us: None,
            })
            .collect();
        let svg = render(&job(tasks), &DOWN);
        assert_eq!(svg.matches("<g class=\"task\"").count(), MAX_NODES);
        assert!(svg.contains("and 3 more tasks"));
    }
}
