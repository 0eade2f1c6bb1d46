import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// UTC wall-clock timestamps without Foundation; the one formatter of run rows, error rows and records (the
/// expression language's `now()` uses the same, so they agree).
public enum Timestamp {
    /// The last formatted second, so that callers asking per record stay cheap.
    private static let lastSecond = Mutex<(seconds: Int64, text: String)>((Int64.min, ""))

    /// Now as `YYYY-MM-DDTHH:MM:SSZ`.
    public static func now() -> String {
        let seconds = Int64(time(nil))
        return self.lastSecond.withLock { last in
            if last.seconds != seconds { last = (seconds, CivilDate.timestamp(millis: seconds * 1000)) }
            return last.text
        }
    }

    /// Now, in milliseconds since the Unix epoch.
    public static func epochMillis() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func nowWithMilliseconds() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = time_t(spec.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let date = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
        let time = "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        return date + "T" + time + "." + pad(Int32(spec.tv_nsec / 1_000_000), 3) + "Z"
    }
}
