import Foundation

/// Parses the small `--where` language of `radb search` into a `SearchFilter`.
///
/// Grammar (keywords case-insensitive, conditions joined by `AND`):
///
///     label = 'cat'            label IN ('cat', 'dog')
///     path GLOB '*/2024/*'     id IN (3, 17, 42)        id = 7
///     added > '2026-01-01'     added < '2026-06-30T12:00:00Z'
///
/// Dates are ISO 8601 (a bare date means midnight UTC). `>`/`>=` set "added after",
/// `<`/`<=` set "added before". Anything else is a `FilterExpression.Error` that quotes the
/// offending text and shows the grammar.
public enum FilterExpression {
    /// A `--where` expression that could not be parsed.
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public let expression: String
        public let reason: String
        public var description: String {
            "invalid filter expression \"\(expression)\": \(reason). "
                + "Use conditions like label = 'cat', label IN ('cat','dog'), path GLOB '*.jpg', "
                + "added > '2026-01-01', id IN (1,2), joined with AND."
        }
    }

    /// Parses `text` into a filter; an empty or all-blank text is an empty filter.
    public static func parse(_ text: String) throws -> SearchFilter {
        var tokens = try tokenize(text)
        var filter = SearchFilter()
        func fail(_ reason: String) -> Error { Error(expression: text, reason: reason) }
        if tokens.isEmpty { return filter }
        while true {
            guard case .word(let field)? = tokens.first else { throw fail("expected a field name (label, path, added, id)") }
            tokens.removeFirst()
            guard let op = tokens.first else { throw fail("expected an operator after \(field)") }
            tokens.removeFirst()
            switch (field.lowercased(), op) {
            case ("label", .symbol("=")):
                filter.labels = intersect(filter.labels, [try string(&tokens, fail)])
            case ("label", .word(let w)) where w.lowercased() == "in":
                filter.labels = intersect(filter.labels, Set(try list(&tokens, fail).map { try stringValue($0, fail) }))
            case ("path", .word(let w)) where w.lowercased() == "glob" || w.lowercased() == "like":
                var pattern = try string(&tokens, fail)
                if w.lowercased() == "like" {  // SQL LIKE wildcards mapped onto GLOB's
                    pattern = pattern.replacingOccurrences(of: "%", with: "*").replacingOccurrences(of: "_", with: "?")
                }
                guard filter.pathGlob == nil else { throw fail("path may be constrained only once") }
                filter.pathGlob = pattern
            case ("path", .symbol("=")):
                guard filter.pathGlob == nil else { throw fail("path may be constrained only once") }
                filter.pathGlob = escapeGlob(try string(&tokens, fail))
            case ("id", .symbol("=")):
                filter.ids = intersectIDs(filter.ids, [try integer(tokens.first, fail)])
                tokens.removeFirst()
            case ("id", .word(let w)) where w.lowercased() == "in":
                filter.ids = intersectIDs(filter.ids, Set(try list(&tokens, fail).map { try integer($0, fail) }))
            case ("added", .symbol(let s)) where [">", ">=", "<", "<="].contains(s):
                let raw = try string(&tokens, fail)
                guard let date = parseDate(raw) else { throw fail("'\(raw)' is not an ISO 8601 date") }
                if s.hasPrefix(">") {
                    filter.addedAfter = max(filter.addedAfter ?? date, date)
                } else {
                    filter.addedBefore = min(filter.addedBefore ?? date, date)
                }
            default:
                throw fail("unsupported condition on '\(field)'")
            }
            guard let next = tokens.first else { break }
            guard case .word(let w) = next, w.lowercased() == "and" else { throw fail("expected AND between conditions") }
            tokens.removeFirst()
        }
        return filter
    }

    // MARK: - Tokens

    private enum Token: Equatable { case word(String), string(String), number(String), symbol(String) }

    private static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c.isWhitespace { i = text.index(after: i); continue }
            if c == "'" || c == "\"" {
                var value = ""
                var j = text.index(after: i)
                var closed = false
                while j < text.endIndex {
                    if text[j] == c {
                        let after = text.index(after: j)
                        if after < text.endIndex && text[after] == c { value.append(c); j = text.index(after: after); continue }
                        closed = true; j = after; break
                    }
                    value.append(text[j]); j = text.index(after: j)
                }
                guard closed else { throw Error(expression: text, reason: "unterminated quoted string") }
                tokens.append(.string(value)); i = j; continue
            }
            if "(),=".contains(c) { tokens.append(.symbol(String(c))); i = text.index(after: i); continue }
            if c == "<" || c == ">" {
                let n = text.index(after: i)
                if n < text.endIndex && text[n] == "=" { tokens.append(.symbol("\(c)=")); i = text.index(after: n) }
                else { tokens.append(.symbol(String(c))); i = n }
                continue
            }
            var word = ""
            var j = i
            while j < text.endIndex, !text[j].isWhitespace, !"(),=<>'\"".contains(text[j]) { word.append(text[j]); j = text.index(after: j) }
            guard !word.isEmpty else { throw Error(expression: text, reason: "unexpected character '\(c)'") }
            tokens.append(word.allSatisfy(\.isNumber) ? .number(word) : .word(word))
            i = j
        }
        return tokens
    }

    private static func string(_ tokens: inout [Token], _ fail: (String) -> Error) throws -> String {
        guard let t = tokens.first else { throw fail("expected a quoted value") }
        tokens.removeFirst()
        return try stringValue(t, fail)
    }

    private static func stringValue(_ t: Token, _ fail: (String) -> Error) throws -> String {
        switch t {
        case .string(let s), .word(let s), .number(let s): return s
        case .symbol(let s): throw fail("expected a value, found '\(s)'")
        }
    }

    private static func integer(_ t: Token?, _ fail: (String) -> Error) throws -> UInt64 {
        guard case .number(let s)? = t, let v = UInt64(s) else { throw fail("expected a non-negative integer id") }
        return v
    }

    private static func list(_ tokens: inout [Token], _ fail: (String) -> Error) throws -> [Token] {
        guard tokens.first == .symbol("(") else { throw fail("expected ( after IN") }
        tokens.removeFirst()
        var items: [Token] = []
        while let t = tokens.first {
            tokens.removeFirst()
            if t == .symbol(")") { guard !items.isEmpty else { throw fail("empty IN list") }; return items }
            if t == .symbol(",") { continue }
            items.append(t)
        }
        throw fail("missing ) after IN list")
    }

    private static func intersect(_ a: Set<String>?, _ b: Set<String>) -> Set<String> { a.map { $0.intersection(b) } ?? b }
    private static func intersectIDs(_ a: Set<UInt64>?, _ b: Set<UInt64>) -> Set<UInt64> { a.map { $0.intersection(b) } ?? b }

    private static func escapeGlob(_ s: String) -> String {
        var out = ""
        for c in s { if "*?[".contains(c) { out += "[\(c)]" } else { out.append(c) } }
        return out
    }

    /// ISO 8601 with or without time; a bare date is midnight UTC.
    package static func parseDate(_ s: String) -> Date? {
        let full = ISO8601DateFormatter()
        if let d = full.date(from: s) { return d }
        let dateOnly = ISO8601DateFormatter()
        dateOnly.formatOptions = [.withFullDate]
        return dateOnly.date(from: s)
    }
}
