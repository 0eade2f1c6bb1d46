import GatherCore

extension ComponentSpec {
    /// Terminal help: name and kind, summary, a table of fields (type, default or `required`, description with
    /// `secret` and synonyms), other keys, and examples. Deterministic.
    ///
    /// ```text
    /// offset (paginator)
    /// Pages with offset and limit query parameters.
    ///
    /// Fields:
    ///   KEY           TYPE      DEFAULT   DESCRIPTION
    ///   limit         integer   required  Items per page.
    ///   offset_param  string    offset    The query parameter for the offset.
    /// …
    /// ```
    public func helpText() -> String {
        var lines: [String] = [name == kind ? name : "\(name) (\(kind))"]
        if !summary.isEmpty { lines.append(summary) }
        if !fields.isEmpty {
            lines.append("")
            lines.append("Fields:")
            var rows: [[String]] = [["KEY", "TYPE", "DEFAULT", "DESCRIPTION"]]
            for field in fields {
                var description = field.description.singleLine
                if field.secret { description += " (secret)" }
                if !field.synonyms.isEmpty { description += " (also: \(field.synonyms.joined(separator: ", ")))" }
                if let example = field.example { description += " Example: \(example)" }
                let defaultText = field.required ? "required" : (field.defaultValue.map { $0.singleLine } ?? "-")
                rows.append([field.name, field.type.shortName, defaultText, description])
            }
            lines += SpecDocs.columns(rows).map { "  " + $0 }
        }
        if let additional = additionalFields {
            lines.append("")
            lines.append("Other keys: any name, each \(additional.expectation).")
        }
        if !examples.isEmpty {
            lines.append("")
            lines.append(examples.count == 1 ? "Example:" : "Examples:")
            for (index, example) in examples.enumerated() {
                if index > 0 { lines.append("") }
                lines += example.trimmingTrailingNewlines.split(separator: "\n", omittingEmptySubsequences: false)
                    .map { "  " + $0 }
            }
        }
        return lines.map(\.trimmingTrailingSpaces).joined(separator: "\n") + "\n"
    }
}

/// The generated configuration reference.
public enum SpecDocs {
    /// Markdown for `specs` and every spec nested in them (objects and `oneOf` variants), one section per
    /// component, grouped by kind (kinds in order of first appearance, components in discovery order: each spec,
    /// then the specs its fields use, depth first). The output depends only on the specs, so it can be compared
    /// with a committed file.
    public static func markdown(for specs: [ComponentSpec], title: String = "Configuration reference") -> String {
        let all = collect(specs)
        var kinds: [String] = []
        for entry in all where !kinds.contains(entry.spec.kind) { kinds.append(entry.spec.kind) }

        var out: [String] = ["# \(title)", ""]
        out.append("<!-- Generated from the component specs by SpecDocs.markdown(for:). Do not edit by hand. -->")
        out.append("")
        for kind in kinds {
            out.append(
                "- \(kind.capitalizedFirst): "
                    + all.filter { $0.spec.kind == kind }.map { link($0.spec) }
                    .joined(separator: ", "))
        }
        for kind in kinds {
            out += ["", "## \(kind.capitalizedFirst)"]
            for entry in all where entry.spec.kind == kind {
                out += section(entry.spec, selection: entry.selection)
            }
        }
        return out.map(\.trimmingTrailingSpaces).joined(separator: "\n") + "\n"
    }

    /// How a variant is chosen: the discriminator of the first `oneOf` that lists it.
    struct Entry {
        var spec: ComponentSpec
        var selection: String?
    }

    /// `specs` and the specs nested in them, depth first, each (kind, name) once.
    static func collect(_ specs: [ComponentSpec]) -> [Entry] {
        var result: [Entry] = []
        var seen = Set<String>()
        func visit(_ spec: ComponentSpec, selection: String?) {
            guard seen.insert(anchor(spec)).inserted else { return }
            result.append(Entry(spec: spec, selection: selection))
            for field in spec.fields { visit(field.type) }
            if let additional = spec.additionalFields { visit(additional) }
        }
        func visit(_ type: FieldType) {
            switch type {
            case .list(let element), .stringOrList(let element), .map(let element): visit(element)
            case .object(let spec): visit(spec, selection: nil)
            case .oneOf(let discriminator, let variants):
                for variant in variants { visit(variant, selection: discriminator) }
            default: break
            }
        }
        for spec in specs { visit(spec, selection: nil) }
        return result
    }

    private static func section(_ spec: ComponentSpec, selection discriminator: String?) -> [String] {
        var out = ["", "<a id=\"\(anchor(spec))\"></a>", "", "### `\(spec.name)`", ""]
        if !spec.summary.isEmpty { out += [spec.summary.singleLine, ""] }
        if let discriminator {
            var how = "Chosen with `\(discriminator): \(spec.name)` in a mapping, or just `\(spec.name)` "
            if let shorthand = spec.shorthandField {
                how += "or `\(spec.name): …` (which sets `\(shorthand)`)."
            } else {
                how += "when no other keys are needed, or `\(spec.name): {…}` with the settings."
            }
            out += [how, ""]
        }
        if spec.fields.isEmpty {
            out += ["No settings.", ""]
        } else {
            out.append("| Key | Type | Required | Default | Description |")
            out.append("| --- | --- | --- | --- | --- |")
            for field in spec.fields {
                var description = field.description.singleLine
                if field.secret { description += " **Secret**: redacted from logs and output." }
                if !field.synonyms.isEmpty {
                    description += " Also accepted: " + field.synonyms.map { "`\($0)`" }.joined(separator: ", ") + "."
                }
                if let example = field.example { description += " Example: `\(example.singleLine)`." }
                let cells = [
                    "`\(field.name)`", typeCell(field.type), field.required ? "yes" : "",
                    field.defaultValue.map { "`\($0.singleLine)`" } ?? "", description,
                ]
                out.append("| " + cells.map(escapeCell).joined(separator: " | ") + " |")
            }
            out.append("")
        }
        if let additional = spec.additionalFields {
            out += ["Other keys: any name, each \(typeCell(additional)).", ""]
        }
        for example in spec.examples {
            out +=
                ["```yaml"]
                + example.trimmingTrailingNewlines.split(separator: "\n", omittingEmptySubsequences: false)
                .map(String.init) + ["```", ""]
        }
        out.removeLast()
        return out
    }

    /// A type for a table cell, with links to nested components.
    static func typeCell(_ type: FieldType) -> String {
        switch type {
        case .enumeration(let values): return values.map { "`\($0)`" }.joined(separator: " \\| ")
        case .list(let element): return "list of \(typeCell(element))"
        case .stringOrList(let element): return "\(typeCell(element)) or list"
        case .map(let element): return "map of \(typeCell(element))"
        case .object(let spec): return link(spec)
        case .oneOf(_, let variants): return "one of " + variants.map(link).joined(separator: ", ")
        default: return type.shortName
        }
    }

    private static func link(_ spec: ComponentSpec) -> String {
        "[`\(spec.name)`](#\(anchor(spec)))"
    }

    /// `kind-name`, lower-cased; characters other than letters, digits, `-` and `_` become `-`.
    static func anchor(_ spec: ComponentSpec) -> String {
        String(
            "\(spec.kind)-\(spec.name)".lowercased().map {
                $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-"
            })
    }

    /// Escapes `|` (unless already escaped) for a table cell.
    private static func escapeCell(_ text: String) -> String {
        var out = ""
        var previous: Character?
        for c in text {
            if c == "|", previous != "\\" { out.append("\\") }
            out.append(c)
            previous = c
        }
        return out
    }

    /// Left-aligned columns separated by two spaces (the last column unpadded).
    static func columns(_ rows: [[String]]) -> [String] {
        guard let width = rows.map(\.count).max() else { return [] }
        var widths = [Int](repeating: 0, count: width)
        for row in rows {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
        }
    }
}

extension String {
    fileprivate var singleLine: String {
        split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }.joined(separator: " ")
    }

    fileprivate var trimmingTrailingNewlines: String {
        var s = Substring(self)
        while s.last?.isNewline == true { s = s.dropLast() }
        return String(s)
    }

    fileprivate var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }

    fileprivate var capitalizedFirst: String {
        prefix(1).uppercased() + dropFirst()
    }
}
