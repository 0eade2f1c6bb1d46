/// RFC 3986 percent-encoding of a URL component: everything but the unreserved `A-Z a-z 0-9 - . _ ~` becomes
/// `%XX`. The one encoder behind URL building (`URLEncoding`) and secret redaction (`Redactor`), so a secret is
/// hidden in exactly the form it is sent in.
public enum PercentEncoding {
    public static func component(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
