/// "Did you mean …?" for misspelled keys, enum values and type names.
public enum Suggestions {
    /// The edit distance between `a` and `b` counting insertions, deletions, substitutions and swaps of two
    /// neighbouring characters (optimal string alignment Damerau-Levenshtein).
    ///
    /// ```swift
    /// Suggestions.distance("paginatr", "paginate")   // 1
    /// Suggestions.distance("tiemout", "timeout")     // 1 (a swap)
    /// ```
    public static func distance(_ a: String, _ b: String) -> Int {
        let s = Array(a)
        let t = Array(b)
        if s.isEmpty { return t.count }
        if t.isEmpty { return s.count }
        var previousPrevious = [Int](repeating: 0, count: t.count + 1)
        var previous = Array(0...t.count)
        var current = [Int](repeating: 0, count: t.count + 1)
        for i in 1...s.count {
            current[0] = i
            for j in 1...t.count {
                let cost = s[i - 1] == t[j - 1] ? 0 : 1
                var best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, s[i - 1] == t[j - 2], s[i - 2] == t[j - 1] {
                    best = min(best, previousPrevious[j - 2] + 1)
                }
                current[j] = best
            }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[t.count]
    }

    /// The candidate closest to `word`: a case-insensitive match, else the nearest within distance 2 (and
    /// closer than the length of `word`, so `id` does not suggest `ab`; ties go to the earlier candidate), else
    /// the only candidate that starts with `word` (at least 3 characters: `obey` → `obey_server_hints`).
    ///
    /// ```swift
    /// Suggestions.closest(to: "paginatr", in: ["path", "paginate"])   // "paginate"
    /// ```
    public static func closest(to word: String, in candidates: [String]) -> String? {
        let lowered = word.lowercased()
        if let exact = candidates.first(where: { $0.lowercased() == lowered }) { return exact }
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let d = distance(lowered, candidate.lowercased())
            if d <= 2, d < word.count, d < (best?.distance ?? .max) { best = (candidate, d) }
        }
        if let best { return best.candidate }
        guard word.count >= 3 else { return nil }
        let prefixed = candidates.filter { $0.lowercased().hasPrefix(lowered) }
        return prefixed.count == 1 ? prefixed[0] : nil
    }

    /// The same as ``closest(to:in:)``: the candidate `word` was probably meant to be, if any.
    ///
    /// ```swift
    /// Suggestions.didYouMean("repo", among: ["repos", "issues"])   // "repos"
    /// ```
    public static func didYouMean(_ word: String, among candidates: [String]) -> String? {
        closest(to: word, in: candidates)
    }

    /// `a, b or c` (quoted with `'` when `quoted`).
    static func list(_ items: [String], conjunction: String = "or", quoted: Bool = false) -> String {
        let shown = quoted ? items.map { "'\($0)'" } : items
        switch shown.count {
        case 0: return ""
        case 1: return shown[0]
        default: return shown.dropLast().joined(separator: ", ") + " \(conjunction) " + shown.last!
        }
    }
}
