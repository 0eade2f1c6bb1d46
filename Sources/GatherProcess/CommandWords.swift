extension ProcessPool {
    /// Splits a command line into words as a POSIX shell would for a simple command, without running a shell:
    /// spaces separate words, `'…'` and `"…"` quote (a backslash escapes in and outside double quotes).
    ///
    /// ```swift
    /// try ProcessPool.words("python3 'my script.py' --lr 0.1")   // ["python3", "my script.py", "--lr", "0.1"]
    /// ```
    ///
    /// - Throws: ``ProcessPoolError`` for an unclosed quote or an empty command.
    public static func words(_ line: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            switch (quote, character) {
            case (nil, "\\"), ("\"", "\\"):
                escaped = true
                inWord = true
            case (nil, "'"), (nil, "\""):
                quote = character
                inWord = true
            case ("'", "'"), ("\"", "\""):
                quote = nil
            case (nil, " "), (nil, "\t"), (nil, "\n"):
                if inWord { words.append(current) }
                current = ""
                inWord = false
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil || escaped {
            throw ProcessPoolError("the command \(line) has an unclosed quote or a trailing backslash")
        }
        if inWord { words.append(current) }
        guard !words.isEmpty else { throw ProcessPoolError("the command is empty: give a program and its arguments") }
        return words
    }
}
