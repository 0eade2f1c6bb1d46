// jsonbench: single-threaded throughput of JSONReader (and JSONWriter) over real documents.
//
//     jsonbench PATH [--passes N] [--write]
//
// PATH is a folder of *.json files (one document each) or a JSON Lines file. Every document is
// loaded into memory first, then parsed once per pass (each result dropped at once, as Python
// does), then minified once per pass into one reused buffer (as `gather fetch` writes JSON
// lines); the best pass of each is reported. `run.sh` builds this file together with GatherCore's
// Values/ and JSON/ sources in one module, so `GatherCore` is only imported when it is a module.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
#if canImport(GatherCore)
    import GatherCore
#endif

func fail(_ message: String) -> Never {
    let text = "jsonbench: \(message)\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    exit(2)
}

nonisolated(unsafe) var chunk = [UInt8](repeating: 0, count: 1 << 16)

func readFile(_ path: String) -> [UInt8] {
    guard let file = fopen(path, "rb") else { fail("cannot open \(path)") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
}

func loadDocuments(_ path: String) -> [[UInt8]] {
    if let dir = opendir(path) {
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(".json") { names.append(name) }
        }
        closedir(dir)
        return names.sorted().map { readFile(path + "/" + $0) }
    }
    // JSON Lines: one document per non-empty line.
    let all = readFile(path)
    return all.split(separator: UInt8(ascii: "\n")).map { Array($0) }
}

var path: String?
var passes = 5
var benchWrite = false
var args = CommandLine.arguments.dropFirst()
while let arg = args.popFirst() {
    switch arg {
    case "--passes":
        guard let n = Int(args.popFirst() ?? ""), n > 0 else { fail("--passes needs a positive number") }
        passes = n
    case "--write": benchWrite = true
    case "-h", "--help":
        print("usage: jsonbench PATH [--passes N] [--write]   (PATH: folder of *.json or a .jsonl file)")
        exit(0)
    default: path = arg
    }
}
guard let path else { fail("usage: jsonbench PATH [--passes N] [--write]") }

let documents = loadDocuments(path)
guard !documents.isEmpty else { fail("no documents in \(path)") }
let totalBytes = documents.reduce(0) { $0 + $1.count }

func report(_ name: String, bytes: Int, seconds: Double) {
    let mbps = Double(bytes) / seconds / 1e6
    let docs = Double(documents.count) / seconds
    let ms = Int((seconds * 1000).rounded())
    print("\(name): \(Int(mbps.rounded())) MB/s  \(Int(docs.rounded())) docs/s  (best pass \(ms) ms)")
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

print("documents: \(documents.count), bytes: \(totalBytes), passes: \(passes)")
let clock = ContinuousClock()
// Like the Python side, each parsed document is dropped right away (its freeing is timed too).
var best = Double.infinity
var checksum = 0
for _ in 0..<passes {
    checksum = 0
    let start = clock.now
    for (index, document) in documents.enumerated() {
        do {
            checksum &+= try JSONReader.parse(document).objectValue?.count ?? 1
        } catch {
            fail("document \(index + 1): \(error)")
        }
    }
    best = min(best, seconds(clock.now - start))
}
report("swift GatherCore parse (checksum \(checksum))", bytes: totalBytes, seconds: best)

// Validating minify into one reused output buffer. MB/s counts input bytes, as for parsing.
var bestMinify = Double.infinity
var minified = 0
var line: [UInt8] = []
line.reserveCapacity(1 << 16)
for _ in 0..<passes {
    minified = 0
    let start = clock.now
    for (index, document) in documents.enumerated() {
        line.removeAll(keepingCapacity: true)
        do {
            try JSONReader.minify(document, into: &line)
        } catch {
            fail("document \(index + 1): \(error)")
        }
        minified &+= line.count
    }
    bestMinify = min(bestMinify, seconds(clock.now - start))
}
report("swift GatherCore minify (\(minified) bytes out)", bytes: totalBytes, seconds: bestMinify)

if benchWrite {
    let parsed = documents.map { try! JSONReader.parse($0) }
    var bestWrite = Double.infinity
    var written = 0
    for _ in 0..<passes {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        written = 0
        let start = clock.now
        for value in parsed {
            buffer.removeAll(keepingCapacity: true)
            JSONWriter.write(value, into: &buffer)
            written += buffer.count
        }
        bestWrite = min(bestWrite, seconds(clock.now - start))
    }
    // One reused output buffer, as a JSON Lines sink would write.
    report("swift GatherCore write (\(written) bytes out)", bytes: written, seconds: bestWrite)
}
