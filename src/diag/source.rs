//! The source map: every file a session reads (the spec and its imports),
//! by [`FileId`], with line lookup for rendering.

use crate::syntax::FileId;

/// One source file: the path as the user should see it, and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    /// Offsets past the end or inside a character are clamped.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = self.clamp(offset);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let mut col = self.text[start..offset].chars().count();
        // A byte-order mark is not a column to an editor.
        if line == 0 && offset > 0 && self.text.starts_with('\u{feff}') {
            col -= 1;
        }
        (line + 1, col + 1)
    }

    /// 0-based index of the line holding a byte offset (a newline belongs
    /// to the line it ends; offsets past the end are in the last line).
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset) - 1
    }

    /// Number of lines (a text ending with a newline has an empty last line).
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Byte range of a 0-based line: from its start to its end, the
    /// newline included (empty past the last line).
    pub fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let start = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text.len());
        start..end
    }

    /// 0-based line and 0-based column in UTF-16 code units of a byte
    /// offset: the position an LSP client expects (offsets past the end or
    /// inside a character are clamped).
    pub fn utf16_position(&self, offset: usize) -> (u32, u32) {
        let offset = self.clamp(offset);
        let line = self.line_of(offset);
        let start = self.line_starts[line];
        let col: usize = self.text[start..offset].chars().map(char::len_utf16).sum();
        (line as u32, col as u32)
    }

    /// The byte offset of a 0-based line and UTF-16 column (an LSP
    /// position). A column past the line's end means its end (before the
    /// newline); a line past the last means the end of the text; a column
    /// inside a surrogate pair means the character's start.
    pub fn offset_of_utf16(&self, line: u32, col: u32) -> usize {
        let Some(&start) = self.line_starts.get(line as usize) else {
            return self.text.len();
        };
        let end = self.line_range(line as usize).end;
        let text = self.text[start..end].trim_end_matches(['\n', '\r']);
        let mut units = 0u32;
        for (i, c) in text.char_indices() {
            units += c.len_utf16() as u32;
            if units > col {
                return start + i;
            }
        }
        start + text.len()
    }

    /// The nearest char boundary at or before `offset`, within the text.
    pub fn clamp(&self, offset: usize) -> usize {
        let mut o = offset.min(self.text.len());
        while !self.text.is_char_boundary(o) {
            o -= 1;
        }
        o
    }
}

/// All files of a session, indexed by [`FileId`] in the order they were added.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        SourceMap::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, path: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile::new(path, text));
        (self.files.len() - 1) as FileId
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }

    /// The path of a file ("<unknown>" for an id not in the map).
    pub fn path(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", |f| f.path.as_str())
    }

    /// The text of a file ("" for an id not in the map).
    pub fn text(&self, id: FileId) -> &str {
        self.get(id).map_or("", |f| f.text.as_str())
    }

    /// The id of the file with this path, if loaded.
    pub fn find(&self, path: &str) -> Option<FileId> {
        self.files
            .iter()
            .position(|f| f.path == path)
            .map(|i| i as FileId)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let f = SourceFile::new("a", "ab\nçd\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(2), (1, 3));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(5), (2, 2)); // after the two-byte `ç`
        assert_eq!(f.line_col(4), (2, 1)); // inside `ç`: clamped
        assert_eq!(f.line_col(99), (3, 1));
        let bom = SourceFile::new("b", "\u{feff}let a\nb");
        assert_eq!(bom.line_col(3), (1, 1)); // `let` starts the line
        assert_eq!(bom.line_col(7), (1, 5));
        assert_eq!(bom.line_col(9), (2, 1));
    }

    #[test]
    fn utf16_positions_round_trip() {
        // `ç` is one UTF-16 unit (two bytes), `😀` two units (four bytes).
        let f = SourceFile::new("a", "ab\nç😀d\r\nx");
        assert_eq!(f.utf16_position(0), (0, 0));
        assert_eq!(f.utf16_position(3), (1, 0));
        assert_eq!(f.utf16_position(5), (1, 1));
        assert_eq!(f.utf16_position(9), (1, 3)); // `d`
        assert_eq!(f.utf16_position(99), (2, 1));
        for off in [0, 1, 2, 3, 5, 9, 10, 12, 13] {
            let (l, c) = f.utf16_position(off);
            assert_eq!(f.offset_of_utf16(l, c), off, "offset {off}");
        }
        assert_eq!(f.offset_of_utf16(1, 2), 5); // inside the pair: its start
        assert_eq!(f.offset_of_utf16(1, 99), 10); // past the end: before `\r\n`
        assert_eq!(f.offset_of_utf16(7, 0), f.text.len());
    }
}
