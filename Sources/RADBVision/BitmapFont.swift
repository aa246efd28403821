// MARK: - BitmapFont

/// A built-in 5×7 pixel font (digits, A–Z, a little punctuation) for captions on contact
/// sheets, so radb can label thumbnails without a font file or a text-rendering library.
/// Lowercase letters are drawn as capitals; characters without a glyph are drawn as "?".
public enum BitmapFont {
    /// Glyph cell: 5×7 pixels plus one column of spacing.
    public static let glyphWidth = 5
    public static let glyphHeight = 7
    public static let advance = 6

    /// Width in pixels of `text` drawn at `scale` (no trailing spacing column).
    public static func width(of text: String, scale: Int = 1) -> Int {
        let n = text.count
        return n == 0 ? 0 : (n * advance - 1) * max(1, scale)
    }

    /// Rows of a glyph as 5-bit masks, bit 4 = leftmost column.
    package static func rows(for character: Character) -> [UInt8] {
        let upper = Character(character.uppercased())
        return glyphs[upper] ?? glyphs["?"]!
    }

    /// Built once from the drawings below ('#' = ink).
    package static let glyphs: [Character: [UInt8]] = {
        var table: [Character: [UInt8]] = [:]
        for (character, drawing) in drawings {
            table[character] = drawing.split(separator: " ").map { row in
                row.reduce(UInt8(0)) { ($0 << 1) | ($1 == "#" ? 1 : 0) }
            }
        }
        return table
    }()

    // Each glyph: 7 rows of 5 columns, rows separated by spaces.
    private static let drawings: [(Character, String)] = [
        ("0", ".###. #...# #..## #.#.# ##..# #...# .###."), ("1", "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###."),
        ("2", ".###. #...# ....# ...#. ..#.. .#... #####"), ("3", "##### ...#. ..#.. ...#. ....# #...# .###."),
        ("4", "...#. ..##. .#.#. #..#. ##### ...#. ...#."), ("5", "##### #.... ####. ....# ....# #...# .###."),
        ("6", "..##. .#... #.... ####. #...# #...# .###."), ("7", "##### ....# ...#. ..#.. .#... .#... .#..."),
        ("8", ".###. #...# #...# .###. #...# #...# .###."), ("9", ".###. #...# #...# .#### ....# ...#. .##.."),
        ("A", ".###. #...# #...# ##### #...# #...# #...#"), ("B", "####. #...# #...# ####. #...# #...# ####."),
        ("C", ".###. #...# #.... #.... #.... #...# .###."), ("D", "###.. #..#. #...# #...# #...# #..#. ###.."),
        ("E", "##### #.... #.... ####. #.... #.... #####"), ("F", "##### #.... #.... ####. #.... #.... #...."),
        ("G", ".###. #...# #.... #.### #...# #...# .####"), ("H", "#...# #...# #...# ##### #...# #...# #...#"),
        ("I", ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###."), ("J", "..### ...#. ...#. ...#. ...#. #..#. .##.."),
        ("K", "#...# #..#. #.#.. ##... #.#.. #..#. #...#"), ("L", "#.... #.... #.... #.... #.... #.... #####"),
        ("M", "#...# ##.## #.#.# #.#.# #...# #...# #...#"), ("N", "#...# #...# ##..# #.#.# #..## #...# #...#"),
        ("O", ".###. #...# #...# #...# #...# #...# .###."), ("P", "####. #...# #...# ####. #.... #.... #...."),
        ("Q", ".###. #...# #...# #...# #.#.# #..#. .##.#"), ("R", "####. #...# #...# ####. #.#.. #..#. #...#"),
        ("S", ".#### #.... #.... .###. ....# ....# ####."), ("T", "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#.."),
        ("U", "#...# #...# #...# #...# #...# #...# .###."), ("V", "#...# #...# #...# #...# #...# .#.#. ..#.."),
        ("W", "#...# #...# #...# #.#.# #.#.# #.#.# .#.#."), ("X", "#...# #...# .#.#. ..#.. .#.#. #...# #...#"),
        ("Y", "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#.."), ("Z", "##### ....# ...#. ..#.. .#... #.... #####"),
        (" ", "..... ..... ..... ..... ..... ..... ....."), (".", "..... ..... ..... ..... ..... .##.. .##.."),
        (",", "..... ..... ..... ..... .##.. ..#.. .#..."), (":", "..... .##.. .##.. ..... .##.. .##.. ....."),
        ("-", "..... ..... ..... ##### ..... ..... ....."), ("_", "..... ..... ..... ..... ..... ..... #####"),
        ("=", "..... ..... ##### ..... ##### ..... ....."), ("/", "..... ....# ...#. ..#.. .#... #.... ....."),
        ("%", "##... ##..# ...#. ..#.. .#... #..## ...##"), ("#", ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#."),
        ("(", "...#. ..#.. .#... .#... .#... ..#.. ...#."), (")", ".#... ..#.. ...#. ...#. ...#. ..#.. .#..."),
        ("?", ".###. #...# ....# ...#. ..#.. ..... ..#.."),
    ]
}

// MARK: - Drawing text

extension Image {
    /// Draws `text` with its top-left corner at (`x`, `y`) in the built-in 5×7 font, each font
    /// pixel a `scale`×`scale` square; clipped to the picture.
    public mutating func drawText(_ text: String, x: Int, y: Int, color: RGB, scale: Int = 1) {
        let s = max(1, scale)
        var penX = x
        for character in text {
            let rows = BitmapFont.rows(for: character)
            for (r, bits) in rows.enumerated() where bits != 0 {
                for c in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - c)) != 0 {
                    fill(x: penX + c * s, y: y + r * s, width: s, height: s, color: color)
                }
            }
            penX += BitmapFont.advance * s
        }
    }
}
