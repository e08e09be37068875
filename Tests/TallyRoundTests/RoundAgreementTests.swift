import TallyCore
import TallyModel
import TallyRound
import TallySecAgg
import Testing

/// The one place a plan is built and the one place it is checked: what a participant refuses.
@Suite struct RoundAgreementTests {
    @Test func thePlanDerivesTheThresholdSlotsAndDimensionAndChecksItself() throws {
        let agreement = try RoundHarness.agreement(n: 7)
        let p = agreement.parameters
        #expect(p.cohort == (1...7).map { ParticipantID(UInt32($0)) }, "members are planned in id order")
        #expect(p.cohortCertificates.first == "certificate of 1")
        #expect(p.threshold == 5, "t = ⌊(7 + 1)/2⌋ + 1")
        #expect(p.dimension == 16 && p.slotWidth == SlotLayout.headroomWidth(valueBits: 16, summands: 7))
        #expect(p.training.seed == TrainingSettings().seed &+ 1, "the round id is added to the seed")
        #expect(agreement.secAgg.planDigest == p.digest && agreement.digest == p.digest)
        // The participant's check of the same parameters derives the same configurations.
        let checked = try RoundAgreement(parameters: p, parameterCount: RoundHarness.parameterCount)
        #expect(checked.secAgg == agreement.secAgg && checked.privacy == agreement.privacy)
        #expect(checked.participantCharge(ParticipantID(3)).noiseShares == 4, "t − c")
    }

    @Test func everyFieldIsInTheDigest() throws {
        let p = try RoundHarness.agreement(n: 4).parameters
        let edits: [(String, (inout RoundParameters) -> Void)] = [
            ("round", { $0.roundID += 1 }), ("model", { $0.modelHash[0] ^= 1 }), ("epochs", { $0.training.localEpochs += 1 }),
            ("batch", { $0.training.batchSize += 1 }), ("rate", { $0.training.learningRate *= 2 }), ("seed", { $0.training.seed += 1 }),
            ("cohort", { $0.cohort[3] = ParticipantID(9) }), ("certificate", { $0.cohortCertificates[0] += " " }),
            ("threshold", { $0.threshold += 1 }), ("margin", { $0.collusionMargin += 1 }), ("bits", { $0.valueBits += 1 }),
            ("slots", { $0.slotWidth += 1 }), ("dimension", { $0.dimension *= 2 }), ("graph", { $0.graph = .harary(degree: 2) }),
            ("clip", { $0.clipNorm *= 2 }), ("noise", { $0.noiseMultiplier *= 2 }), ("timeout", { $0.stageTimeoutMilliseconds += 1 }),
            ("delay", { $0.maskedInputDelayMilliseconds += 1 }), ("size", { $0.compressedModelBytes += 1 }),
            ("unmasked", { $0.unmasked.toggle() }),
        ]
        var digests: Set<[UInt8]> = [p.digest]
        for (name, edit) in edits {
            var changed = p
            edit(&changed)
            #expect(digests.insert(changed.digest).inserted, "changing \(name) must change the digest")
        }
    }

    @Test func aParticipantRefusesPlansThatDoNotAddUp() throws {
        let good = try RoundHarness.agreement(n: 5).parameters
        let bad: [(String, TallyError.Code, (inout RoundParameters) -> Void)] = [
            ("a threshold below (m + c)/2", .invalidArgument, { $0.threshold = 3 }),
            ("a threshold above the cohort", .invalidArgument, { $0.threshold = 6 }),
            ("a slot width without headroom", .invalidArgument, { $0.slotWidth -= 1 }),
            ("a dimension that is not the model's", .sizeMismatch, { $0.dimension = 32 }),
            ("a missing certificate", .malformedMessage, { $0.cohortCertificates.removeLast() }),
            ("an oversized certificate", .sizeLimitExceeded, { $0.cohortCertificates[0] = String(repeating: "A", count: 17 << 10) }),
            ("an unsorted cohort", .malformedMessage, { $0.cohort.swapAt(0, 1) }),
            ("a member twice", .invalidArgument, { $0.cohort[1] = $0.cohort[0] }),
            (
                "a one-member cohort", .malformedMessage,
                {
                    $0.cohort = [$0.cohort[0]]; $0.cohortCertificates = [$0.cohortCertificates[0]]
                }
            ),
            ("zero local epochs", .invalidArgument, { $0.training.localEpochs = 0 }),
            ("a NaN learning rate", .invalidArgument, { $0.training.learningRate = .nan }),
            ("a delay past the deadline", .invalidArgument, { $0.maskedInputDelayMilliseconds = $0.stageTimeoutMilliseconds }),
            ("no deadline", .invalidArgument, { $0.stageTimeoutMilliseconds = 0 }),
            ("a short model hash", .malformedMessage, { $0.modelHash.removeLast() }),
            ("31 value bits", .invalidArgument, { $0.valueBits = 31 }),
            ("an infinite clip norm", .invalidArgument, { $0.clipNorm = .infinity }),
        ]
        _ = try RoundAgreement(parameters: good, parameterCount: RoundHarness.parameterCount)
        for (what, expected, edit) in bad {
            var p = good
            edit(&p)
            #expect(throws: TallyError.self, "\(what)") { try RoundAgreement(parameters: p, parameterCount: RoundHarness.parameterCount) }
            do { _ = try RoundAgreement(parameters: p, parameterCount: RoundHarness.parameterCount) } catch {
                #expect(error.code == expected, "\(what): \(error)")
            }
        }
    }

    @Test func fromTwoHundredMembersTheGraphIsSparseAndTheThresholdStillToleratesColluders() throws {
        let agreement = try RoundHarness.agreement(n: 200)
        guard case .harary(let k) = agreement.parameters.graph else { Issue.record("expected a SecAgg+ graph"); return }
        let m = min(k, 199) + 1
        #expect(2 * agreement.parameters.threshold > m + 1)
    }
}
