//! The lines of a `lakehouse vectors add` file, parsed one at a time, and the batches they
//! are sent in.
//!
//! - JSON Lines: one `{"id": "...", "vector": [...], "metadata": {...}?}` per line, sent
//!   as written.
//! - CSV: `id,x1,x2,...` (one column per value), or `id,"[x1,x2,...]"[,"{metadata}"]`
//!   (the vector, and optionally the metadata, as JSON in one quoted field). Fields may be
//!   double-quoted (`""` inside quotes is a quote); one record per line. The first line is
//!   a header, and skipped, when its second field is neither a number nor a JSON array.
//!
//! Blank lines are skipped. A [`Batch`] is checked with vectord's own rules
//! ([`vectord::validate::validate_items`]) before it is sent, so a bad line is reported by
//! its line number before anything of its batch reaches the server.

use std::collections::HashMap;

use serde_json::Value;
use vectord::{IndexParams, RawItem, RawVector, VectorError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    /// From the file name (`.csv`; `.jsonl`, `.ndjson`, `.json`), else from the first
    /// non-blank line (`{` starts JSON Lines).
    pub fn guess(file_name: &str, first_line: &str) -> Format {
        let name = file_name.to_ascii_lowercase();
        let json_name = [".jsonl", ".ndjson", ".json"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if name.ends_with(".csv") {
            Format::Csv
        } else if json_name || first_line.trim_start().starts_with('{') {
            Format::Jsonl
        } else {
            Format::Csv
        }
    }
}

/// One parsed line: the item (for checking) and its JSON text (what is sent).
#[derive(Debug)]
pub struct Parsed {
    pub item: RawItem,
    pub json: String,
}

/// Parses one line; `Ok(None)` for a blank line or a CSV header. `first` is whether this
/// is the first non-blank line of the file.
pub fn parse_line(format: Format, text: &str, first: bool) -> Result<Option<Parsed>, String> {
    let text = text.trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return Ok(None);
    }
    match format {
        Format::Jsonl => {
            let item: RawItem = serde_json::from_str(text)
                .map_err(|e| format!("not an item {{\"id\", \"vector\", \"metadata\"?}}: {e}"))?;
            Ok(Some(Parsed {
                item,
                json: text.trim().to_string(),
            }))
        }
        Format::Csv => parse_csv(text, first),
    }
}

fn parse_csv(text: &str, first: bool) -> Result<Option<Parsed>, String> {
    let fields = split_csv(text)?;
    let Some((id, rest)) = fields.split_first() else {
        return Err("an empty record".into());
    };
    let Some(second) = rest.first().map(|f| f.trim()) else {
        return Err("only one field: expected the id, then the vector's values".into());
    };
    let json_vector = second.starts_with('[');
    if first && !json_vector && second.parse::<f64>().is_err() {
        return Ok(None);
    }
    let (values, metadata) = if json_vector {
        let values: Vec<f64> = serde_json::from_str(second)
            .map_err(|e| format!("field 2 is not a JSON array of numbers: {e}"))?;
        let metadata = match rest.get(1).map(|f| f.trim()) {
            None | Some("") => None,
            Some(text) => Some(
                serde_json::from_str::<Value>(text)
                    .map_err(|e| format!("field 3 (metadata) is not JSON: {e}"))?,
            ),
        };
        if rest.len() > 2 {
            return Err(format!(
                "{} fields: with the vector as JSON, a record is id, vector and optionally metadata",
                fields.len()
            ));
        }
        (values, metadata)
    } else {
        let values = rest
            .iter()
            .enumerate()
            .map(|(i, f)| {
                f.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("field {} ({f:?}) is not a number", i + 2))
            })
            .collect::<Result<Vec<f64>, String>>()?;
        (values, None)
    };
    let item = RawItem {
        id: id.clone(),
        vector: RawVector::new(values.iter().map(|&x| x as f32).collect()),
        metadata: metadata.clone(),
    };
    // The values as parsed (f64): the server casts them exactly as it would the file's text.
    let mut json = serde_json::json!({"id": id, "vector": values});
    if let Some(metadata) = metadata {
        json["metadata"] = metadata;
    }
    // A value that is not finite (`NaN`, `inf`) is refused by the batch check before the
    // JSON (where it would be `null`) is ever sent.
    Ok(Some(Parsed {
        item,
        json: json.to_string(),
    }))
}

/// Splits one CSV record on commas, honouring double quotes.
fn split_csv(text: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => {
                quoted = false;
                if !matches!(chars.peek(), None | Some(',')) {
                    return Err(format!(
                        "field {}: text after its closing quote",
                        fields.len() + 1
                    ));
                }
            }
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            c => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err(format!(
            "field {}: a quote is never closed (a record must fit on one line)",
            fields.len() + 1
        ));
    }
    fields.push(field);
    Ok(fields)
}

/// Items waiting to be sent. A repeated id replaces its earlier line, as adding the lines
/// one at a time would (the server refuses repeats within one request).
#[derive(Default)]
pub struct Batch {
    entries: Vec<Option<(u64, Parsed)>>,
    by_id: HashMap<String, usize>,
    bytes: usize,
    live: usize,
}

impl Batch {
    pub fn push(&mut self, line: u64, parsed: Parsed) {
        let slot = self.entries.len();
        if let Some(earlier) = self.by_id.insert(parsed.item.id.clone(), slot)
            && let Some((_, old)) = self.entries[earlier].take()
        {
            self.bytes -= old.json.len() + 1;
            self.live -= 1;
        }
        self.bytes += parsed.json.len() + 1;
        self.live += 1;
        self.entries.push(Some((line, parsed)));
    }

    /// Items in the batch (repeats counted once).
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The size of the request body, give or take a few bytes.
    pub fn bytes(&self) -> usize {
        self.bytes + 16
    }

    fn live(&self) -> impl Iterator<Item = &(u64, Parsed)> {
        self.entries.iter().flatten()
    }

    /// The line of the item at `position` in the request.
    pub fn line_of(&self, position: usize) -> Option<u64> {
        self.live().nth(position).map(|(line, _)| *line)
    }

    /// Checks the batch against the index's parameters; the error is (line, reason).
    pub fn check(&self, params: &IndexParams) -> Result<(), (Option<u64>, String)> {
        let items: Vec<RawItem> = self.live().map(|(_, p)| p.item.clone()).collect();
        match vectord::validate::validate_items(params, items) {
            Ok(_) => Ok(()),
            Err(VectorError::InvalidItem { item, reason, .. }) => Err((self.line_of(item), reason)),
            Err(other) => Err((None, other.to_string())),
        }
    }

    /// `{"items": [...]}`, each item as its line's JSON.
    pub fn body(&self) -> String {
        let mut body = String::with_capacity(self.bytes());
        body.push_str("{\"items\":[");
        for (i, (_, parsed)) in self.live().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&parsed.json);
        }
        body.push_str("]}");
        body
    }
}

#[cfg(test)]
mod tests {
    use vectord::Metric;

    use super::*;

    fn parsed(format: Format, text: &str, first: bool) -> Parsed {
        parse_line(format, text, first).unwrap().unwrap()
    }

    #[test]
    fn csv_records_in_both_shapes_become_items() {
        assert!(
            parse_line(Format::Csv, "id,x,y\r\n", true)
                .unwrap()
                .is_none()
        );
        let p = parsed(Format::Csv, "a,1,2.5,-3e2", true);
        assert_eq!(p.item.id, "a");
        let json: Value = serde_json::from_str(&p.json).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "a", "vector": [1.0, 2.5, -300.0]})
        );
        let p = parsed(
            Format::Csv,
            r#""b, c","[1, 2]","{""lang"": ""en""}""#,
            false,
        );
        let json: Value = serde_json::from_str(&p.json).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "b, c", "vector": [1.0, 2.0], "metadata": {"lang": "en"}})
        );
        let e = |t: &str| parse_line(Format::Csv, t, false).unwrap_err();
        assert!(
            e("a,1,x").contains("field 3 (\"x\") is not a number"),
            "{}",
            e("a,1,x")
        );
        assert!(e("a").contains("only one field"));
        assert!(e("\"a,1").contains("never closed"));
        assert!(e("\"a\"b,1").contains("after its closing quote"));
        assert!(e("a,\"[1,\"").contains("not a JSON array"));
        // A header only on the first line; later it is a bad record.
        assert!(e("id,x").contains("not a number"));
    }

    #[test]
    fn jsonl_lines_are_sent_as_written_and_bad_ones_explained() {
        assert!(parse_line(Format::Jsonl, "  \n", true).unwrap().is_none());
        let line = r#"{"id": "x", "vector": [1, 2], "metadata": {"k": 1}}"#;
        assert_eq!(parsed(Format::Jsonl, line, true).json, line);
        let e = parse_line(Format::Jsonl, r#"{"id": "x", "vec": [1]}"#, true).unwrap_err();
        assert!(e.contains("unknown field `vec`"), "{e}");
        assert_eq!(Format::guess("-", " {\"id\""), Format::Jsonl);
        assert_eq!(Format::guess("v.CSV", "{"), Format::Csv);
        assert_eq!(Format::guess("-", "a,1,2"), Format::Csv);
    }

    #[test]
    fn a_batch_keeps_the_last_of_a_repeated_id_and_names_the_line_of_a_bad_item() {
        let params = IndexParams::new(2, Metric::Cosine, 16, 200).unwrap();
        let mut batch = Batch::default();
        batch.push(1, parsed(Format::Csv, "a,1,0", false));
        batch.push(2, parsed(Format::Csv, "b,0,1", false));
        batch.push(3, parsed(Format::Csv, "a,1,1", false));
        assert_eq!(batch.len(), 2);
        assert!(batch.check(&params).is_ok());
        let body: Value = serde_json::from_str(&batch.body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"items": [{"id": "b", "vector": [0.0, 1.0]}, {"id": "a", "vector": [1.0, 1.0]}]})
        );
        batch.push(4, parsed(Format::Csv, "z,0,0", false));
        let (line, reason) = batch.check(&params).unwrap_err();
        assert_eq!(line, Some(4));
        assert!(reason.contains("zero norm"), "{reason}");
        let mut batch = Batch::default();
        batch.push(7, parsed(Format::Csv, "n,NaN,1", false));
        let (line, reason) = batch.check(&params).unwrap_err();
        assert_eq!(line, Some(7));
        assert!(reason.contains("not a finite"), "{reason}");
        let mut batch = Batch::default();
        batch.push(9, parsed(Format::Csv, "d,1,2,3", false));
        assert!(batch.check(&params).unwrap_err().1.contains("dim is 2"));
    }
}
