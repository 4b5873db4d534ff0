// The evaluation metrics on hand-made cases with known answers: ties, one identity, N smaller than k, perfect
// and random predictions, AUC 0.5 and 1.0.
import Foundation
import Testing
import VoiceStyleEvaluation

@Suite struct MetricsTests {
    @Test func distances() {
        #expect(abs(Metrics.cosine([1, 0], [0, 1])) < 1e-12)
        #expect(abs(Metrics.cosine([1, 2], [2, 4]) - 1) < 1e-12)
        #expect(Metrics.cosine([0, 0], [1, 1]) == 0)
        #expect(abs(Metrics.l1([1, 2], [0, 0]) - 3.000002) < 1e-9)
        #expect(abs(Metrics.l2([3, 4], [0, 0]) - (pow(3.000001, 2) + pow(4.000001, 2)).squareRoot()) < 1e-9)
        #expect(Metrics.mean([[1, 2], [3, 6]]) == [2, 4])
    }

    @Test func recallAtK() {
        let perfect: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        #expect(Metrics.recallAtK(similarity: perfect, ks: [1, 2, 50]) == [1: 1, 2: 1, 50: 1])
        // Everything equal: the expected recall under random tie-breaking is k / N.
        let flat = [[Double]](repeating: [0.5, 0.5, 0.5, 0.5], count: 4)
        #expect(Metrics.recallAtK(similarity: flat, ks: [1, 2, 4, 10]) == [1: 0.25, 2: 0.5, 4: 1, 10: 1])
        // Always wrong at rank 1, right at rank 2.
        let second: [[Double]] = [[0.5, 0.9], [0.9, 0.5]]
        #expect(Metrics.recallAtK(similarity: second, ks: [1, 2]) == [1: 0, 2: 1])
        // One identity: always found.
        #expect(Metrics.recallAtK(similarity: [[0.1]], ks: [1, 5]) == [1: 1, 5: 1])
        #expect(Metrics.recallAtK(similarity: [], ks: [1]) == [1: 0])
    }

    @Test func matching12() {
        #expect(Metrics.matching12(similarity: [[1, 0], [0, 1]]) == 1)
        #expect(Metrics.matching12(similarity: [[0, 1], [1, 0]]) == 0)
        #expect(Metrics.matching12(similarity: [[1, 1], [1, 1]]) == 0.5)
        #expect(Metrics.matching12(similarity: [[1]]) == nil)
        // Impostors restricted (e.g. same gender): only (0, 2) and (2, 0) count.
        let s: [[Double]] = [[1, 2, 0], [0, 0, 5], [3, 0, 1]]
        #expect(Metrics.matching12(similarity: s, allowed: { ($0 == 1) == ($1 == 1) }) == 0.5)
    }

    @Test func roc() throws {
        let perfect = try #require(Metrics.roc(scores: [0.9, 0.8, 0.2, 0.1], labels: [true, true, false, false]))
        #expect(perfect.auc == 1 && perfect.eer == 0)
        let inverted = try #require(Metrics.roc(scores: [0.1, 0.2, 0.8, 0.9], labels: [true, true, false, false]))
        #expect(inverted.auc == 0 && inverted.eer == 1)
        let tied = try #require(Metrics.roc(scores: [0.5, 0.5, 0.5, 0.5], labels: [true, false, true, false]))
        #expect(tied.auc == 0.5 && tied.eer == 0.5)
        #expect(tied.fpr == [0, 1] && tied.tpr == [0, 1])
        // 1 − AUC = P(negative > positive): scores (pos 0.6, 0.4; neg 0.5, 0.3): 3 of 4 pairs ordered.
        let mixed = try #require(Metrics.roc(scores: [0.6, 0.4, 0.5, 0.3], labels: [true, true, false, false]))
        #expect(abs(mixed.auc - 0.75) < 1e-12)
        #expect(abs(mixed.eer - 0.5) < 1e-12)
        #expect(Metrics.roc(scores: [1, 2], labels: [true, true]) == nil)
    }

    @Test func averagePrecision() {
        #expect(Metrics.averagePrecision(scores: [0.9, 0.1, 0.5], relevant: [true, false, false]) == 1)
        // Relevant at ranks 2 and 3: (1/2 + 2/3) / 2.
        #expect(abs(Metrics.averagePrecision(scores: [0.9, 0.5, 0.4], relevant: [false, true, true])! - (0.5 + 2.0 / 3) / 2) < 1e-12)
        // Ties ordered pessimistically.
        #expect(Metrics.averagePrecision(scores: [0.5, 0.5], relevant: [true, false]) == 0.5)
        #expect(Metrics.averagePrecision(scores: [0.5], relevant: [false]) == nil)
        #expect(Metrics.meanAveragePrecision(similarity: [[1, 0], [0, 1], [1, 1]], relevant: [[true, false], [false, true], [false, false]]) == 1)
    }
}
