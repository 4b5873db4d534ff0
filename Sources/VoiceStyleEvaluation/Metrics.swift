// The metrics of the voice–face literature: embedding distances and recall@k among N identities (SF2F
// utils/s2f_evaluator.py `get_metrics`, `cos_query`, `in_top_k`), 1:2 matching (Wen et al.), verification ROC,
// AUC and EER, and retrieval mAP (the CMPC / vfal-eva association protocol).
import Foundation

public enum Metrics {
    /// Cosine similarity; 0 when either vector is zero (torch `CosineSimilarity(eps=1e-8)` gives ≈ 0 there too).
    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "vectors of \(a.count) and \(b.count) values")
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in a.indices {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
        }
        return dot / max(na.squareRoot() * nb.squareRoot(), 1e-8)
    }

    /// SF2F's `nn.PairwiseDistance(p=1, eps=1e-6)`: Σ |a − b + 1e-6|.
    public static func l1(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "vectors of \(a.count) and \(b.count) values")
        return a.indices.reduce(0) { $0 + abs(Double(a[$1]) - Double(b[$1]) + 1e-6) }
    }

    /// SF2F's `nn.PairwiseDistance(p=2, eps=1e-6)`: ‖a − b + 1e-6‖₂.
    public static func l2(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "vectors of \(a.count) and \(b.count) values")
        return a.indices.reduce(0) { $0 + pow(Double(a[$1]) - Double(b[$1]) + 1e-6, 2) }.squareRoot()
    }

    /// The element-wise mean of vectors (SF2F's per-identity embedding: the mean over its faces).
    public static func mean(_ vectors: [[Float]]) -> [Float] {
        precondition(!vectors.isEmpty, "the mean of no vectors")
        var m = [Double](repeating: 0, count: vectors[0].count)
        for v in vectors {
            precondition(v.count == m.count, "vectors of \(v.count) and \(m.count) values")
            for i in v.indices { m[i] += Double(v[i]) }
        }
        return m.map { Float($0 / Double(vectors.count)) }
    }

    /// Probability that the truth ranks within the top `k` of `scores` (higher is better) when ties are broken
    /// at random: with g scores above the truth's and t others equal to it, clamp((k − g) / (t + 1), 0, 1).
    /// (`torch.topk`, which SF2F uses, breaks ties arbitrarily; this is its expectation.)
    public static func hit(scores: [Double], truth: Int, k: Int) -> Double {
        let s = scores[truth]
        var greater = 0, ties = 0
        for (j, v) in scores.enumerated() where j != truth {
            if v > s { greater += 1 } else if v == s { ties += 1 }
        }
        return min(max(Double(k - greater) / Double(ties + 1), 0), 1)
    }

    /// SF2F recall@k: query i (a predicted identity) against gallery `similarity[i]` (its similarity to every
    /// true identity), hit when true identity i is in its top k; the mean over queries, per k. k larger than the
    /// gallery counts every query as a hit.
    public static func recallAtK(similarity: [[Double]], ks: [Int]) -> [Int: Double] {
        precondition(similarity.allSatisfy { $0.count == similarity.count }, "recall@k needs a square similarity table")
        guard !similarity.isEmpty else { return Dictionary(uniqueKeysWithValues: ks.map { ($0, 0) }) }
        return Dictionary(uniqueKeysWithValues: ks.map { k in
            (k, similarity.indices.reduce(0.0) { $0 + hit(scores: similarity[$1], truth: $1, k: k) } / Double(similarity.count))
        })
    }

    /// 1:2 matching (Wen et al.): for each query, the fraction of (true, impostor) pairs in which the true
    /// candidate scores higher (ties count ½). `similarity[i][j]`: query i against candidate j, the truth of
    /// query i being candidate i; `allowed(i, j)` limits impostors (e.g. the same gender). Every allowed impostor
    /// is used, which is the expectation of the random-impostor protocol. nil when no query has an impostor.
    public static func matching12(similarity: [[Double]], allowed: (Int, Int) -> Bool = { _, _ in true }) -> Double? {
        var correct = 0.0, trials = 0
        for i in similarity.indices {
            for j in similarity[i].indices where j != i && allowed(i, j) {
                let t = similarity[i][i], f = similarity[i][j]
                correct += t > f ? 1 : t == f ? 0.5 : 0
                trials += 1
            }
        }
        return trials == 0 ? nil : correct / Double(trials)
    }

    /// A receiver operating characteristic.
    public struct ROC: Codable, Sendable, Equatable {
        /// False and true positive rates at each distinct threshold, from (0, 0) to (1, 1).
        public var fpr: [Double]
        public var tpr: [Double]
        /// The score at or above which a pair is accepted, per point (+inf for the first).
        public var thresholds: [Double]
        /// Area under the curve (trapezoids; = P(positive > negative) + ½ P(equal)).
        public var auc: Double
        /// Equal error rate: where the false positive rate equals the false negative rate (interpolated).
        public var eer: Double
    }

    /// The ROC of `scores` (higher = more likely the same person) for pairs labelled `labels`. nil when either
    /// class is empty (AUC undefined).
    public static func roc(scores: [Double], labels: [Bool]) -> ROC? {
        precondition(scores.count == labels.count, "\(scores.count) scores for \(labels.count) labels")
        let positives = labels.filter { $0 }.count, negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var fpr = [0.0], tpr = [0.0], thresholds = [Double.infinity]
        var tp = 0, fp = 0, i = 0
        while i < order.count {
            let s = scores[order[i]]
            while i < order.count && scores[order[i]] == s {
                if labels[order[i]] { tp += 1 } else { fp += 1 }
                i += 1
            }
            fpr.append(Double(fp) / Double(negatives))
            tpr.append(Double(tp) / Double(positives))
            thresholds.append(s)
        }
        var auc = 0.0
        for k in 1..<fpr.count { auc += (fpr[k] - fpr[k - 1]) * (tpr[k] + tpr[k - 1]) / 2 }
        // EER: first point where the false negative rate falls to or below the false positive rate.
        var eer = 1.0
        for k in 1..<fpr.count {
            let (fnr0, fnr1) = (1 - tpr[k - 1], 1 - tpr[k])
            if fnr1 <= fpr[k] {
                let d0 = fnr0 - fpr[k - 1], d1 = fnr1 - fpr[k]
                let t = d0 - d1 == 0 ? 0 : d0 / (d0 - d1)
                eer = fpr[k - 1] + t * (fpr[k] - fpr[k - 1])
                break
            }
        }
        return ROC(fpr: fpr, tpr: tpr, thresholds: thresholds, auc: auc, eer: eer)
    }

    /// Average precision of one ranked query: the mean of precision@rank over the relevant items (ties in
    /// score are ordered pessimistically: irrelevant first). nil when nothing is relevant.
    public static func averagePrecision(scores: [Double], relevant: [Bool]) -> Double? {
        precondition(scores.count == relevant.count, "\(scores.count) scores for \(relevant.count) labels")
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : !relevant[$0] && relevant[$1] }
        var hits = 0, sum = 0.0
        for (rank, j) in order.enumerated() where relevant[j] {
            hits += 1
            sum += Double(hits) / Double(rank + 1)
        }
        return hits == 0 ? nil : sum / Double(hits)
    }

    /// Mean average precision over the queries that have a relevant item.
    public static func meanAveragePrecision(similarity: [[Double]], relevant: [[Bool]]) -> Double? {
        let aps = zip(similarity, relevant).compactMap { averagePrecision(scores: $0, relevant: $1) }
        return aps.isEmpty ? nil : aps.reduce(0, +) / Double(aps.count)
    }
}
