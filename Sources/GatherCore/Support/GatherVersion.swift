/// The version of Gather this binary is: `gather --version`, and what a scaled-out run records so that workers of
/// another version refuse to join it.
public enum GatherVersion {
    public static let current = "0.1.0"
}
