//! The one canonical layout of an intent file (`strata fmt`), and the span-blind syntax
//! comparison that proves a layout change kept the meaning.
//!
//! Layout: items in source order, separated by exactly one blank line; a one-line intent
//! stays on one line (`intent x: keys of 256 bits between A and B, rate >= 10/s`); block
//! intents and policies print one clause per line, indented four spaces. Comparators are
//! `>=` / `<=`, a bare rate becomes `rate >= Q`, `lifetime` becomes `valid for`; numbers,
//! units, names and URNs are reprinted exactly as written (units starting with `/` and `%`
//! attach to the number, others follow one space).
//!
//! Comments are all kept, in source order. Each printed line stands for a source range; a
//! comment inside that range or after its end on the same source line is *attached* to it
//! (the first attached comment ends the printed line after two spaces — or, when two or
//! more trailing comments of one item started in the same source column, all of them at
//! one column two spaces after the longest of their lines — any further ones
//! move to their own lines just before the next printed line); a comment on a line of its
//! own *leads* the next printed line (inside a block when that is a clause or the `}`), or
//! stays at the end of the file. Blank lines between top-level comment groups are kept
//! (at most one); a blank line between the file's opening comments and the first item is
//! kept; every other blank line is the formatter's.

use crate::ast::*;
use crate::span::Span;

/// Prints `unit` (parsed from `source`) in the canonical layout. `source` is only read for
/// comment placement; the output ends with one newline (or is empty). Assumes a clean parse
/// but never panics, whatever the tree and text.
pub fn format(unit: &SourceUnit, source: &str) -> String {
    let mut lines = Vec::new();
    for item in &unit.items {
        layout_item(item, source, &mut lines);
    }
    let placed = place_comments(&lines, &unit.comments, source);
    emit(&lines, &placed)
}

/// One printed line and the source range it stands for.
struct Line {
    text: String,
    indented: bool,
    /// Comments on their own lines before it are indented (they are inside a block).
    inner: bool,
    /// The first line of a top-level item (preceded by a blank line unless first).
    item_start: bool,
    start: usize,
    end: usize,
}

fn layout_item(item: &Item, source: &str, lines: &mut Vec<Line>) {
    let span = item.span();
    match item {
        Item::Use(u) => lines.push(Line {
            text: format!("use network {}", quote(&u.path)),
            indented: false,
            inner: false,
            item_start: true,
            start: span.start,
            end: span.end,
        }),
        Item::Intent(i) if i.form == Form::Line => lines.push(Line {
            text: format!("intent {}: {}", name(&i.name), line_clauses(&i.clauses)),
            indented: false,
            inner: false,
            item_start: true,
            start: span.start,
            end: span.end,
        }),
        Item::Intent(i) => layout_block("intent", &i.name, &i.clauses, span, source, lines),
        Item::Policy(p) => layout_block("policy", &p.name, &p.clauses, span, source, lines),
        Item::Assert(a) => lines.push(Line {
            text: format!("assert {}", assertion(&a.kind)),
            indented: false,
            inner: false,
            item_start: true,
            start: span.start,
            end: span.end,
        }),
    }
}

/// An assertion's body in canonical form, without `assert`.
pub fn assertion(kind: &AssertKind) -> String {
    let subject = |s: &Selector| match s {
        Selector::Intents(names) => names.iter().map(name).collect::<Vec<_>>().join(", "),
        other => selector(other),
    };
    match kind {
        AssertKind::Survive {
            subject: s,
            count,
            element,
            share,
        } => {
            let what = element.map_or(String::new(), |k| format!("{} ", k.word()));
            let plural = if count.value == 1.0 { "" } else { "s" };
            let at = share
                .as_ref()
                .map_or(String::new(), |q| format!(" at {}", quantity(q)));
            format!(
                "{} survive {} {what}failure{plural}{at}",
                subject(s),
                count.number
            )
        }
        AssertKind::Utilisation { link, bound: b } => match link {
            Some(l) => format!("link {} utilisation {}", name(l), bound(b)),
            None => format!("link utilisation {}", bound(b)),
        },
        AssertKind::NoVia { service, target: t } => match service {
            Some(Selector::Pairs) => format!("no entangled pairs via {}", target(t)),
            Some(_) => format!("no keys via {}", target(t)),
            None => format!("no via {}", target(t)),
        },
        AssertKind::Admitted {
            subject: s,
            bound: b,
        } => {
            format!("{} admitted {}", subject(s), bound(b))
        }
    }
}

fn layout_block(
    keyword: &str,
    block_name: &Name,
    clauses: &[Clause],
    span: Span,
    source: &str,
    lines: &mut Vec<Line>,
) {
    let header_end =
        open_brace(source, block_name.span.end, span.end).map_or(block_name.span.end, |b| b + 1);
    lines.push(Line {
        text: format!("{keyword} {} {{", name(block_name)),
        indented: false,
        inner: false,
        item_start: true,
        start: span.start,
        end: header_end.max(span.start),
    });
    for c in clauses {
        lines.push(Line {
            text: clause(&c.kind),
            indented: true,
            inner: true,
            item_start: false,
            start: c.span.start,
            end: c.span.end,
        });
    }
    let close = match span.end.checked_sub(1) {
        Some(b) if source.get(b..span.end) == Some("}") => b,
        _ => span.end,
    };
    lines.push(Line {
        text: "}".into(),
        indented: false,
        inner: true,
        item_start: false,
        start: close,
        end: span.end,
    });
}

/// Position of the `{` that opens a block: the first character after `from` that is not
/// whitespace or a comment.
fn open_brace(source: &str, from: usize, to: usize) -> Option<usize> {
    let text = source.get(from..to)?;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' => return Some(from + i),
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            c if c.is_whitespace() || c == '\u{feff}' => {}
            _ => return None,
        }
    }
    None
}

/// The clauses of a one-line intent: a service clause and the `between` right after it
/// join with a space, every other pair with `, `.
fn line_clauses(clauses: &[Clause]) -> String {
    let mut out = String::new();
    for (n, c) in clauses.iter().enumerate() {
        if n > 0 {
            let service_then_between = matches!(
                (&clauses[n - 1].kind, &c.kind),
                (
                    ClauseKind::Keys(_) | ClauseKind::Pairs,
                    ClauseKind::Between(..)
                )
            );
            out.push_str(if service_then_between { " " } else { ", " });
        }
        out.push_str(&clause(&c.kind));
    }
    out
}

fn clause(kind: &ClauseKind) -> String {
    match kind {
        ClauseKind::Keys(None) => "keys".into(),
        ClauseKind::Keys(Some(q)) => format!("keys of {}", quantity(q)),
        ClauseKind::Pairs => "entangled pairs".into(),
        ClauseKind::Between(a, b) => format!("between {} and {}", endpoint(a), endpoint(b)),
        ClauseKind::Rate(b) => format!("rate {}", bound(b)),
        ClauseKind::Fidelity(b) => format!("fidelity {}", bound(b)),
        ClauseKind::Latency(b) => format!("latency {}", bound(b)),
        ClauseKind::ValidFor(q) => format!("valid for {}", quantity(q)),
        ClauseKind::Priority(q) => format!("priority {}", quantity(q)),
        ClauseKind::Burst(q) => format!("burst {}", quantity(q)),
        ClauseKind::TrustedRelaysOnly => "relay via trusted nodes only".into(),
        ClauseKind::Avoid {
            target,
            never_via: false,
        } => format!("avoid {}", self::target(target)),
        ClauseKind::Avoid {
            target,
            never_via: true,
        } => format!("never via {}", self::target(target)),
        ClauseKind::Via(t) => format!("via {}", target(t)),
        ClauseKind::MaxHops(q) => format!("max hops {}", quantity(q)),
        ClauseKind::DisjointPaths(q) => format!("disjoint paths {}", quantity(q)),
        ClauseKind::Objective(k) => format!("objective {}", k.word()),
        ClauseKind::AppliesTo(sel) => format!("applies to {}", selector(sel)),
    }
}

fn bound(b: &Bound) -> String {
    let cmp = match b.cmp {
        Cmp::AtLeast => ">=",
        Cmp::AtMost => "<=",
    };
    format!("{cmp} {}", quantity(&b.value))
}

fn quantity(q: &Quantity) -> String {
    if !q.rest.is_empty() {
        // A compound duration stays one word: `1h30min`.
        return std::iter::once(q)
            .chain(&q.rest)
            .map(|p| format!("{}{}", p.number, p.unit.as_ref().map_or("", |u| &u.text)))
            .collect();
    }
    match &q.unit {
        None => q.number.clone(),
        Some(u) if u.text.starts_with('/') || u.text == "%" => format!("{}{}", q.number, u.text),
        Some(u) => format!("{} {}", q.number, u.text),
    }
}

fn endpoint(e: &Endpoint) -> String {
    match e {
        Endpoint::Name(n) => name(n),
        Endpoint::Urn(u) => u.text.clone(),
    }
}

fn target(t: &Target) -> String {
    match t.kind {
        Some(kind) => format!("{} {}", kind.word(), name(&t.name)),
        None => name(&t.name),
    }
}

fn selector(sel: &Selector) -> String {
    match sel {
        Selector::All => "all".into(),
        Selector::Keys => "keys".into(),
        Selector::Pairs => "entangled pairs".into(),
        Selector::Intents(names) => {
            let names: Vec<String> = names.iter().map(name).collect();
            format!("intents {}", names.join(", "))
        }
    }
}

fn name(n: &Name) -> String {
    if n.quoted {
        quote(&n.text)
    } else {
        n.text.clone()
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A comment printed on a line of its own.
struct Own<'a> {
    text: &'a str,
    /// Where it starts in the source.
    start: usize,
    /// A blank line separated it from what came before it in the source.
    blank_before: bool,
}

struct Placed<'a> {
    /// Per printed line: the comments on their own lines right before it.
    leading: Vec<Vec<Own<'a>>>,
    /// Per printed line: the comment that ends it, and the column it started at in the
    /// source (in characters).
    trailing: Vec<Option<(&'a str, usize)>>,
    /// Comments after the last printed line.
    end: Vec<Own<'a>>,
    /// A blank line separated the file's opening comments from the first item.
    gap_after_opening: bool,
}

fn place_comments<'a>(lines: &[Line], comments: &'a [Comment], source: &str) -> Placed<'a> {
    let mut sorted: Vec<&Comment> = comments.iter().collect();
    sorted.sort_by_key(|c| c.span.start);

    let mut attached: Vec<Vec<Own<'a>>> = lines.iter().map(|_| Vec::new()).collect();
    let mut leading: Vec<Vec<Own<'a>>> = lines.iter().map(|_| Vec::new()).collect();
    let mut end = Vec::new();
    let mut prev_comment_end: Option<usize> = None;
    for c in sorted {
        let p = c.span.start;
        let before = lines.partition_point(|l| l.start <= p).checked_sub(1);
        let mut prev_end = prev_comment_end.unwrap_or(0);
        if let Some(j) = before
            && lines[j].end <= p
        {
            prev_end = prev_end.max(lines[j].end);
        }
        let has_prev = prev_comment_end.is_some() || before.is_some();
        let own = Own {
            text: c.text.trim_end(),
            start: c.span.start,
            blank_before: has_prev && has_blank_line(source, prev_end, p),
        };
        prev_comment_end = Some(c.span.end.max(prev_comment_end.unwrap_or(0)));
        match before {
            Some(j) if p < lines[j].end || same_line(source, lines[j].end, p) => {
                attached[j].push(own)
            }
            Some(j) if j + 1 < lines.len() => leading[j + 1].push(own),
            Some(_) => end.push(own),
            None if lines.is_empty() => end.push(own),
            None => leading[0].push(own),
        }
    }

    let gap_after_opening = match (lines.first(), leading.first().and_then(|l| l.last())) {
        (Some(first), Some(_)) => {
            let last_end = comments
                .iter()
                .map(|c| c.span.end)
                .filter(|&e| e <= first.start)
                .max()
                .unwrap_or(0);
            has_blank_line(source, last_end, first.start)
        }
        _ => false,
    };

    // The first attached comment ends its line; the others lead the next line.
    let mut trailing = Vec::with_capacity(lines.len());
    for (j, list) in attached.into_iter().enumerate() {
        let mut list = list.into_iter();
        trailing.push(list.next().map(|o| (o.text, column(source, o.start))));
        let rest: Vec<Own<'a>> = list.collect();
        if rest.is_empty() {
            continue;
        }
        let target = leading.get_mut(j + 1).unwrap_or(&mut end);
        target.splice(0..0, rest);
    }
    Placed {
        leading,
        trailing,
        end,
        gap_after_opening,
    }
}

/// The column (in characters) of byte `at` of `source`.
fn column(source: &str, at: usize) -> usize {
    let line_start = source
        .get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |n| n + 1);
    source.get(line_start..at).map_or(0, |t| t.chars().count())
}

/// Where each line's trailing comment starts: two spaces after the line, except that
/// trailing comments of one item that were aligned in the source (started in the same
/// column, two or more of them) stay aligned, two spaces after the longest of their lines.
fn trailing_columns(lines: &[Line], placed: &Placed) -> Vec<usize> {
    let width = |l: &Line| l.text.chars().count() + if l.indented { 4 } else { 0 };
    let mut out: Vec<usize> = lines.iter().map(|l| width(l) + 2).collect();
    let mut item = 0;
    let mut items = Vec::with_capacity(lines.len());
    for (j, l) in lines.iter().enumerate() {
        if l.item_start && j > 0 {
            item += 1;
        }
        items.push(item);
    }
    let mut groups: std::collections::BTreeMap<(usize, usize), Vec<usize>> = Default::default();
    for (j, t) in placed.trailing.iter().enumerate() {
        if let Some((_, col)) = t {
            groups.entry((items[j], *col)).or_default().push(j);
        }
    }
    for members in groups.values().filter(|m| m.len() > 1) {
        let col = members
            .iter()
            .map(|&j| width(&lines[j]) + 2)
            .max()
            .unwrap_or(0);
        for &j in members {
            out[j] = col;
        }
    }
    out
}

fn same_line(source: &str, from: usize, to: usize) -> bool {
    source.get(from..to).is_some_and(|t| !t.contains('\n'))
}

/// Whether a whitespace-only line lies strictly between the lines holding `from` and `to`.
fn has_blank_line(source: &str, from: usize, to: usize) -> bool {
    let Some(text) = source.get(from..to) else {
        return false;
    };
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines.pop();
    lines
        .iter()
        .skip(1)
        .any(|l| l.trim_matches([' ', '\t', '\r', '\u{feff}']).is_empty())
}

fn emit(lines: &[Line], placed: &Placed) -> String {
    let columns = trailing_columns(lines, placed);
    let mut out = String::new();
    for (j, line) in lines.iter().enumerate() {
        if line.item_start && j > 0 {
            out.push('\n');
        }
        let indent = if line.indented { "    " } else { "" };
        for (k, c) in placed.leading[j].iter().enumerate() {
            if k > 0 && c.blank_before && !line.inner {
                out.push('\n');
            }
            out.push_str(if line.inner { "    " } else { "" });
            out.push_str(c.text);
            out.push('\n');
        }
        if j == 0 && placed.gap_after_opening {
            out.push('\n');
        }
        out.push_str(indent);
        out.push_str(&line.text);
        if let Some((t, _)) = placed.trailing[j] {
            let width = line.text.chars().count() + indent.len();
            out.push_str(&" ".repeat(columns[j].saturating_sub(width).max(2)));
            out.push_str(t);
        }
        out.push('\n');
    }
    for (k, c) in placed.end.iter().enumerate() {
        if c.blank_before && (k > 0 || !lines.is_empty()) {
            out.push('\n');
        }
        out.push_str(c.text);
        out.push('\n');
    }
    out
}

/// The first difference between two syntax trees, ignoring spans, comments and the file
/// id; `None` when they say the same thing. Numbers compare by their written text (the
/// parsed value follows from it).
pub fn syntax_difference(a: &SourceUnit, b: &SourceUnit) -> Option<String> {
    let (a, b) = (strip(&a.items), strip(&b.items));
    if let Some((n, (x, y))) = a.iter().zip(&b).enumerate().find(|(_, (x, y))| x != y) {
        return Some(format!("item {n} differs:\n  {x:?}\n  {y:?}"));
    }
    (a.len() != b.len()).then(|| format!("{} items against {}", a.len(), b.len()))
}

/// Copies of `items` with every span zeroed and every parsed number value cleared.
fn strip(items: &[Item]) -> Vec<Item> {
    let mut items = items.to_vec();
    for item in &mut items {
        match item {
            Item::Use(u) => {
                u.span = Span::default();
                u.path_span = Span::default();
            }
            Item::Intent(i) => {
                i.span = Span::default();
                strip_name(&mut i.name);
                i.clauses.iter_mut().for_each(strip_clause);
            }
            Item::Policy(p) => {
                p.span = Span::default();
                strip_name(&mut p.name);
                p.clauses.iter_mut().for_each(strip_clause);
            }
            Item::Assert(a) => {
                a.span = Span::default();
                strip_assertion(&mut a.kind);
            }
        }
    }
    items
}

fn strip_assertion(kind: &mut AssertKind) {
    let strip_selector = |s: &mut Selector| {
        if let Selector::Intents(names) = s {
            names.iter_mut().for_each(strip_name);
        }
    };
    match kind {
        AssertKind::Survive {
            subject,
            count,
            share,
            ..
        } => {
            strip_selector(subject);
            strip_quantity(count);
            share.iter_mut().for_each(strip_quantity);
        }
        AssertKind::Utilisation { link, bound } => {
            link.iter_mut().for_each(strip_name);
            bound.cmp_span = Span::default();
            strip_quantity(&mut bound.value);
        }
        AssertKind::NoVia { target, .. } => strip_name(&mut target.name),
        AssertKind::Admitted { subject, bound } => {
            strip_selector(subject);
            bound.cmp_span = Span::default();
            strip_quantity(&mut bound.value);
        }
    }
}

fn strip_clause(c: &mut Clause) {
    c.span = Span::default();
    match &mut c.kind {
        ClauseKind::Keys(q) => q.iter_mut().for_each(strip_quantity),
        ClauseKind::Pairs | ClauseKind::TrustedRelaysOnly | ClauseKind::Objective(_) => {}
        ClauseKind::Between(a, b) => {
            strip_endpoint(a);
            strip_endpoint(b);
        }
        ClauseKind::Rate(b) | ClauseKind::Fidelity(b) | ClauseKind::Latency(b) => {
            b.cmp_span = Span::default();
            strip_quantity(&mut b.value);
        }
        ClauseKind::ValidFor(q)
        | ClauseKind::Priority(q)
        | ClauseKind::Burst(q)
        | ClauseKind::MaxHops(q)
        | ClauseKind::DisjointPaths(q) => strip_quantity(q),
        ClauseKind::Avoid { target, .. } | ClauseKind::Via(target) => strip_name(&mut target.name),
        ClauseKind::AppliesTo(Selector::Intents(names)) => names.iter_mut().for_each(strip_name),
        ClauseKind::AppliesTo(_) => {}
    }
}

fn strip_quantity(q: &mut Quantity) {
    q.span = Span::default();
    q.value = 0.0;
    if let Some(u) = &mut q.unit {
        u.span = Span::default();
    }
    q.rest.iter_mut().for_each(strip_quantity);
}

fn strip_endpoint(e: &mut Endpoint) {
    match e {
        Endpoint::Name(n) => strip_name(n),
        Endpoint::Urn(u) => u.span = Span::default(),
    }
}

fn strip_name(n: &mut Name) {
    n.span = Span::default();
}
