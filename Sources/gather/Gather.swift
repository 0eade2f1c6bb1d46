@main
struct GatherMain { static func main() async {} }
