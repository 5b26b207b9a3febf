//! `declaro diff A B --html FILE`: the comparison as a page, beside the text or JSON on stdout.

#[path = "util/runs.rs"]
mod runs;
mod util;
use util::*;

/// Two dry runs of the fixture night, the second with one maximum raised: the page is written
/// 0640, holds every delta and figure that `--json` gives, links nowhere, holds no personal
/// data, is the same bytes twice, and replaces a link at its path instead of writing through it.
#[test]
fn diff_writes_the_comparison_as_a_self_contained_page() {
    let dir = Dir::new("diff-html");
    let (a, b) = runs::two_dry_runs_with_a_raised_maximum(&dir);
    let page = dir.join("diff.html");
    let json = runs::diff_html(&a, &b, &page, true);
    let d: serde_json::Value = serde_json::from_str(&json).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&page).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "{mode:o}");
    }
    let html = read(&page);
    assert!(d["changed_lines"].as_u64().unwrap() > 0, "{json}");
    assert_eq!(
        d["paid_per_product"]["supplementary dsw-2009-av-standaard"]["delta"],
        "55.00"
    );
    assert!(html.contains(&format!(
        "<span data-key=\"changed_lines\">{}</span>",
        d["changed_lines"]
    )));
    assert!(html.contains(&format!("<span data-key=\"lines\">{}</span>", d["lines"])));
    for section in ["totals", "paid_per_product", "lines_per_reason"] {
        let rows = d[section].as_object().unwrap();
        assert!(!rows.is_empty(), "{section}");
        for (k, v) in rows {
            // The row: key, A, A's bar, B, B's bar, B - A.
            let row = html
                .lines()
                .find(|l| l.starts_with(&format!("<tr data-key=\"{section}/{k}\">")))
                .unwrap_or_else(|| panic!("no row {section}/{k}"));
            let cells: Vec<&str> = row
                .split("<td class=\"n\">")
                .skip(1)
                .map(|c| &c[..c.find('<').unwrap()])
                .collect();
            assert_eq!(
                cells,
                [&v["a"], &v["b"], &v["delta"]].map(|x| x.as_str().unwrap()),
                "{row}"
            );
        }
    }
    for c in d["largest_changes"].as_array().unwrap() {
        let row = format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            c["file"].as_str().unwrap(),
            c["record"],
            c["line_id"].as_str().unwrap(),
            c["a"].as_str().unwrap(),
            c["b"].as_str().unwrap(),
            c["paid_delta"].as_str().unwrap()
        );
        assert!(html.contains(&row), "{row}");
    }
    for needle in ["<script", "http://", "https://", "src=", "<link", "url("] {
        assert!(!html.contains(needle), "{needle}");
    }
    // No BSN, member number or birth date of the register (names are in no input).
    assert_no_member_data(&html, "the page");
    // The same runs, the same bytes; the text on stdout is as without --html.
    let again = dir.join("again.html");
    let text = runs::diff_html(&a, &b, &again, false);
    assert_eq!(read(&again), html);
    assert_eq!(declaro().arg("diff").arg(&a).arg(&b).stdout(), text);
    // A link at the destination is replaced by the page; its target is not written.
    #[cfg(unix)]
    {
        let target = dir.join("target.txt");
        std::fs::write(&target, "keep").unwrap();
        let link = dir.join("link.html");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        runs::diff_html(&a, &b, &link, false);
        assert_eq!(read(&target), "keep");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(read(&link), html);
    }
}

/// A page that cannot be written (its directory does not exist) fails the command, exit 1,
/// naming the file, and nothing is printed as if it had worked.
#[test]
fn diff_fails_when_the_page_cannot_be_written() {
    let dir = Dir::new("diff-html");
    let (a, _) = runs::two_dry_runs_with_a_raised_maximum(&dir);
    let page = dir.join("no/such/dir/diff.html");
    let o = declaro()
        .arg("diff")
        .arg(&a)
        .arg(&a)
        .arg("--html")
        .arg(&page)
        .assert_exit(1);
    assert!(stderr(&o).contains("diff.html"), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
}
