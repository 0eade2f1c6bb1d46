#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns command-line arguments into files: globs (`data/*.csv`, `logs/**` is not special), directories (the
/// files inside with a known extension, recursively, sorted) and plain paths, each listed once, in order.
public enum FileList {
    /// The files `arguments` name.
    /// - Throws: ``FileError`` for a pattern that matches nothing or a path that does not exist.
    public static func expand(_ arguments: [String]) throws -> [String] {
        var files: [String] = []
        var seen = Set<String>()
        func add(_ path: String) {
            if seen.insert(path).inserted { files.append(path) }
        }
        for argument in arguments {
            if argument.contains(where: { "*?[".contains($0) }) {
                let matches = Self.glob(argument)
                guard !matches.isEmpty else {
                    throw FileError("no file matches \(argument); check the pattern (quote it to keep the shell out)")
                }
                for match in matches {
                    if Self.isDirectory(match) { Self.walk(match).forEach(add) } else { add(match) }
                }
            } else if Self.isDirectory(argument) {
                let inside = Self.walk(argument)
                guard !inside.isEmpty else {
                    throw FileError(
                        "\(argument) holds no .csv, .tsv, .jsonl, .ndjson or .json files (compressed or not)")
                }
                inside.forEach(add)
            } else {
                guard access(argument, F_OK) == 0 else {
                    throw FileError("\(argument) does not exist; check the path")
                }
                add(argument)
            }
        }
        return files
    }

    private static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }.sorted()
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Files under `directory` whose name implies a format, sorted, hidden entries skipped.
    private static func walk(_ directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var found: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard !name.hasPrefix(".") else { continue }
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            if Self.isDirectory(path) {
                found.append(contentsOf: Self.walk(path))
            } else if FileFormat.implied(byPath: path) != nil {
                found.append(path)
            }
        }
        return found.sorted()
    }
}
