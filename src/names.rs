//! Safe file names: what an attacker-chosen name becomes before it touches a file system.

use crate::export::{extension_for, FileInfo, FileKind};

/// Where the result JSON of an export is saved.
pub const RESULT_JSON: &str = "result.json";

/// Where the report of a PDF export is saved.
pub const RESULT_PDF: &str = "result.pdf";

/// The longest name [`safe_file_name`] returns, in bytes. It leaves room under the 255-byte limit
/// of common file systems for the `-N` that [`OutputDir`](crate::save::OutputDir) adds to a taken name.
pub const MAX_NAME_BYTES: usize = 200;

/// An extension at most this long (dot included) is kept when a long name is shortened.
const MAX_KEPT_EXTENSION: usize = 16;

/// Device names that Windows reserves in every folder, with any extension (`CON.jpeg` too).
const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
    "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3",
    "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// Whether `c` may not stand in a file name: control characters (NUL included), the characters
/// Windows forbids (`< > : " | ? *`; `:` would open an alternate data stream there), and the
/// Unicode controls of text direction, which make `gpj.exe` look like `exe.jpg`.
fn is_replaced(c: char) -> bool {
    c.is_control()
        || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A file name that stays inside the folder it is saved in, made from `raw`, an attacker-chosen
/// name (a multipart `filename`, a part name); `None` when nothing usable is left.
///
/// The name is reduced to one plain path component, the same on every platform:
///
/// - only what follows the last `/` or `\` is kept (`../../etc/passwd` gives `passwd`);
/// - control characters (NUL included), `< > : " | ? *` and the Unicode text-direction controls
///   become `_`;
/// - leading dots and spaces are removed (no hidden files, no `.` or `..`), and so are trailing
///   dots and spaces (Windows drops them);
/// - a Windows device name (`CON`, `PRN`, `AUX`, `NUL`, `COM1`..`COM9`, `LPT1`..`LPT9`, in any
///   case and with any extension, such as `con.jpeg`) gets a leading `_`;
/// - a name longer than [`MAX_NAME_BYTES`] is shortened at a character boundary, keeping a short
///   extension (`.jpeg`).
///
/// The result passes [`is_safe_file_name`]. It takes `O(n)` time in the length of `raw`.
///
/// # Examples
///
/// ```
/// use authenteq_export::save::safe_file_name;
///
/// assert_eq!(safe_file_name("faceImage.jpeg").as_deref(), Some("faceImage.jpeg"));
/// assert_eq!(safe_file_name("../../etc/passwd").as_deref(), Some("passwd"));
/// assert_eq!(safe_file_name("C:\\Users\\x\\photo.jpg").as_deref(), Some("photo.jpg"));
/// assert_eq!(safe_file_name("a\0b.pdf").as_deref(), Some("a_b.pdf"));
/// assert_eq!(safe_file_name("CON.jpeg").as_deref(), Some("_CON.jpeg"));
/// assert_eq!(safe_file_name(".."), None);
/// assert_eq!(safe_file_name("dir/"), None);
/// ```
pub fn safe_file_name(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| if is_replaced(c) { '_' } else { c })
        .collect();
    let mut name = trim(&cleaned).to_owned();
    if name.is_empty() {
        return None;
    }
    if name.len() > MAX_NAME_BYTES {
        name = shorten(&name);
    }
    if is_windows_reserved(&name) {
        name.insert(0, '_');
        if name.len() > MAX_NAME_BYTES {
            name = shorten(&name);
        }
    }
    debug_assert!(is_safe_file_name(&name), "{name:?}");
    Some(name)
}

/// Whether `name` is a name [`safe_file_name`] could have made: one plain path component that
/// [`safe_file_name`] leaves as it is. [`OutputDir`](crate::save::OutputDir) accepts only such names.
///
/// # Examples
///
/// ```
/// use authenteq_export::save::is_safe_file_name;
///
/// assert!(is_safe_file_name("croppedFrontImage2.jpeg"));
/// for bad in ["", ".", "..", "a/b", "/abs", "a\\b", ".hidden", "nul", "LPT1.txt", "x.", "a\nb"] {
///     assert!(!is_safe_file_name(bad), "{bad:?}");
/// }
/// ```
pub fn is_safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && !name.contains(['/', '\\'])
        && !name.chars().any(is_replaced)
        && trim(name).len() == name.len()
        && !is_windows_reserved(name)
}

/// `name` without leading dots and spaces, and without trailing ones.
fn trim(name: &str) -> &str {
    name.trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
}

/// Whether Windows reserves `name`: its part before the first dot, without trailing spaces, is a
/// device name.
fn is_windows_reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or("").trim_end_matches(' ');
    WINDOWS_RESERVED
        .iter()
        .any(|reserved| stem.eq_ignore_ascii_case(reserved))
}

/// `name` (trimmed, longer than the limit) cut to at most [`MAX_NAME_BYTES`], keeping a short
/// extension.
fn shorten(name: &str) -> String {
    let ext = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= MAX_KEPT_EXTENSION => &name[i..],
        _ => "",
    };
    let stem = &name[..name.len() - ext.len()];
    let mut end = MAX_NAME_BYTES - ext.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    // Cutting may leave a space or a dot at the end of the stem.
    let stem = stem[..end].trim_end_matches(['.', ' ']);
    format!("{stem}{ext}")
}

/// The name a file of an export is saved under: its own file name made safe, else (no file name,
/// or nothing left of it) the name the multipart export uses (`faceImage2.jpeg`, from
/// [`FileInfo::canonical_filename`]) made safe, else `part-N` with an extension from its content
/// type, `number` being the file's 1-based position among the export's items (the result
/// counts). [`RESULT_JSON`] is kept for the result and [`RESULT_PDF`] for the report of a PDF
/// export: another file asking for one of them gets `part-N-result.json` (or `.pdf`).
///
/// The result passes [`is_safe_file_name`].
///
/// # Examples
///
/// ```
/// use authenteq_export::export::{blocking::Export, ExportItem};
/// use authenteq_export::save::file_name;
///
/// let body = br#"{"id":"v1","documentData":{"faceImage":{"contentType":"image/jpeg","content":"/9j/2Q=="}}}"#;
/// let mut export = Export::new(&body[..], None)?;
/// let mut names = Vec::new();
/// let mut number = 0;
/// while let Some(item) = export.next_item()? {
///     number += 1;
///     if let ExportItem::File(file) = item {
///         names.push(file_name(file.info(), number));
///     }
/// }
/// assert_eq!(names, ["faceImage.jpeg"]);
/// # Ok::<(), authenteq_export::Error>(())
/// ```
pub fn file_name(info: &FileInfo, number: usize) -> String {
    let name = info
        .filename()
        .and_then(safe_file_name)
        .or_else(|| {
            // An unnamed part has no canonical name either (`.jpeg`): it is numbered.
            if info.name().is_empty() {
                None
            } else {
                safe_file_name(&info.canonical_filename())
            }
        })
        .unwrap_or_else(|| match info.content_type().and_then(extension_for) {
            Some(ext) => format!("part-{number}.{ext}"),
            None => format!("part-{number}"),
        });
    let reserved = name.eq_ignore_ascii_case(RESULT_JSON)
        || (name.eq_ignore_ascii_case(RESULT_PDF) && *info.kind() != FileKind::Report);
    if reserved {
        format!("part-{number}-{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A naive reference: the rules of `safe_file_name`'s doc, one at a time.
    fn reference(raw: &str) -> Option<String> {
        let base = match raw.rfind(['/', '\\']) {
            Some(i) => &raw[i + 1..],
            None => raw,
        };
        let mut out = String::new();
        for c in base.chars() {
            out.push(if is_replaced(c) { '_' } else { c });
        }
        while out.starts_with('.') || out.starts_with(' ') {
            out.remove(0);
        }
        while out.ends_with('.') || out.ends_with(' ') {
            out.pop();
        }
        if out.is_empty() {
            return None;
        }
        Some(out)
    }

    #[test]
    fn names_stay_inside_the_folder() {
        let rows: &[(&str, Option<&str>)] = &[
            ("face.jpeg", Some("face.jpeg")),
            ("../../etc/passwd", Some("passwd")),
            ("/etc/passwd", Some("passwd")),
            ("C:\\Users\\x\\photo.jpg", Some("photo.jpg")),
            ("..", None),
            (".", None),
            ("", None),
            ("dir/", None),
            ("a\0b", Some("a_b")),
            (".hidden", Some("hidden")),
            ("...", None),
            (" . ", None),
            ("évidence.pdf", Some("évidence.pdf")),
            ("report. ", Some("report")),
            ("a:b.jpeg", Some("a_b.jpeg")),
            ("what?.jpeg", Some("what_.jpeg")),
            ("x\u{202e}gpj.exe", Some("x_gpj.exe")),
            ("CON", Some("_CON")),
            ("con.jpeg", Some("_con.jpeg")),
            ("Con .tar.gz", Some("_Con .tar.gz")),
            ("COM1", Some("_COM1")),
            ("lpt9.pdf", Some("_lpt9.pdf")),
            ("nul", Some("_nul")),
            ("CONSOLE.jpeg", Some("CONSOLE.jpeg")),
            ("COM10", Some("COM10")),
            ("LPT", Some("LPT")),
        ];
        for (raw, want) in rows {
            let have = safe_file_name(raw);
            assert_eq!(have.as_deref(), *want, "{raw:?}");
            if let Some(name) = &have {
                assert!(is_safe_file_name(name), "{name:?}");
                assert_eq!(safe_file_name(name).as_ref(), Some(name), "idempotent");
            }
        }
    }

    #[test]
    fn long_names_are_cut_keeping_the_extension() {
        let long = format!("{}.jpeg", "é".repeat(150));
        let name = safe_file_name(&long).unwrap();
        assert!(name.len() <= MAX_NAME_BYTES, "{}", name.len());
        assert!(name.ends_with(".jpeg"));
        // A cut that lands on a space leaves no trailing space.
        let spaced = format!("{}{}", "a".repeat(MAX_NAME_BYTES - 1), " b".repeat(20));
        let name = safe_file_name(&spaced).unwrap();
        assert!(is_safe_file_name(&name), "{name:?}");
        // A long extension is not kept whole.
        let odd = format!("x.{}", "e".repeat(300));
        assert_eq!(safe_file_name(&odd).unwrap().len(), MAX_NAME_BYTES);
        // A reserved name made longer by its `_` is cut again.
        let con = format!("CON.{}", "e".repeat(MAX_NAME_BYTES - 4));
        assert!(is_safe_file_name(&safe_file_name(&con).unwrap()));
    }

    /// Short names of a small alphabet with every tricky character: the same as the reference,
    /// except for device names, and always safe.
    #[test]
    fn agrees_with_the_reference_on_every_short_name() {
        let alphabet = [
            'a', '.', ' ', '/', '\\', '\0', '\n', ':', 'é', 'N', 'U', 'L',
        ];
        let mut names = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = names
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            for raw in &longer {
                let have = safe_file_name(raw);
                let want = reference(raw).map(|n| {
                    if is_windows_reserved(&n) {
                        format!("_{n}")
                    } else {
                        n
                    }
                });
                assert_eq!(have, want, "{raw:?}");
                if let Some(name) = &have {
                    assert!(is_safe_file_name(name), "{name:?}");
                }
                assert_eq!(
                    is_safe_file_name(raw),
                    have.as_deref() == Some(raw.as_str())
                );
            }
            names = longer;
        }
    }
}
