import TallyCore
import Testing

/// The one parse of a certificate's `tally://` identity: an operator is its own role, never a
/// participant or the coordinator, and a malformed name is no identity at all.
@Suite struct PeerRoleTests {
    @Test func everyRoleRoundTripsThroughItsURI() {
        for role in [PeerRole.coordinator, .participant(ParticipantID(7)), .operator("oncall"), .operator("ops.team-1_a")] {
            #expect(PeerRole(uri: role.uri) == role)
        }
    }

    @Test(arguments: [
        "tally://operator/", "tally://operator/OnCall", "tally://operator/-x", "tally://operator/a b",
        "tally://operator/" + String(repeating: "a", count: 65), "tally://participant/0", "tally://participant/oncall",
        "tally://operators/x",
    ])
    func malformedIdentitiesAreNotRoles(uri: String) {
        #expect(PeerRole(uri: uri) == nil)
    }
}
