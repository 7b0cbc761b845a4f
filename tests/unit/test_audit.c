/*
 * tests/unit/test_audit.c: the journal audit (core/audit.c). Valid entry sequences are made
 * with the real money rules (ec_ledger_apply) and pass; then each is corrupted one way at a
 * time and the audit must name the account, the entry and the invariant broken.
 */
#include "core/audit.h"
#include "core/ledger_apply.h"
#include "tests/unit/tap.h"

#include <stdlib.h>

/* ---- failures collected from the audit ---- */

typedef struct failure {
    char account[32];
    int64_t seq;
    char code[32];
    char message[256];
} failure;

static failure fails[256];
static size_t nfails;

static void collect(const char *account, int64_t seq, const char *code, const char *message,
                    void *arg)
{
    (*(int *)arg)++;
    if (nfails == sizeof fails / sizeof fails[0])
        return;
    failure *f = &fails[nfails++];
    snprintf(f->account, sizeof f->account, "%s", account);
    f->seq = seq;
    snprintf(f->code, sizeof f->code, "%s", code);
    snprintf(f->message, sizeof f->message, "%s", message);
}

static int has(const char *account, int64_t seq, const char *code)
{
    for (size_t i = 0; i < nfails; i++)
        if (strcmp(fails[i].account, account) == 0 && fails[i].seq == seq &&
            strcmp(fails[i].code, code) == 0)
            return 1;
    return 0;
}

/* The failures other than "rules" (the re-derivation, which also names most corruptions
 * that a specific check names) among the n reported. */
static long besides_rules(long n)
{
    for (size_t i = 0; i < nfails; i++)
        if (strcmp(fails[i].code, "rules") == 0)
            n--;
    return n;
}

static int64_t first_seq(void)
{
    int64_t first = INT64_MAX;
    for (size_t i = 0; i < nfails; i++)
        if (fails[i].seq < first)
            first = fails[i].seq;
    return first;
}

static void show(void)
{
    for (size_t i = 0; i < nfails; i++)
        printf("#   account=%s seq=%lld %s: %s\n", fails[i].account, (long long)fails[i].seq,
               fails[i].code, fails[i].message);
}

/* ---- an account's entries, made by the money rules ---- */

typedef struct book {
    ec_arena *arena;
    char account[32];
    ec_entry e[32];
    size_t n;
} book;

static void post(book *b, ec_ledger_op op, int64_t now)
{
    static const ec_wallet empty;
    ec_entry *e = &b->e[b->n];
    const ec_wallet *before = b->n ? &b->e[b->n - 1].after : &empty;
    const char *refusal = NULL;
    memset(e, 0, sizeof *e);
    if (ec_ledger_apply(b->arena, before, &op, now, &e->after, &e->moves, &e->nmoves, &e->split,
                        &refusal) < 0) {
        printf("# Bail out! the rules refused an operation of the fixture: %s\n", refusal);
        exit(1);
    }
    snprintf(e->account, sizeof e->account, "%s", b->account);
    e->seq = (int64_t)b->n + 1;
    e->at = now;
    snprintf(e->kind, sizeof e->kind, "%s", op.label);
    snprintf(e->key, sizeof e->key, "%s:k%lld", op.label, (long long)e->seq);
    snprintf(e->request_hash, sizeof e->request_hash, "h%lld", (long long)e->seq);
    e->amount = op.kind == EC_OP_GRANT_VOUCHER ? op.voucher.face : op.amount;
    if (op.kind == EC_OP_BUY_CARD)
        e->bonus_rule = op.bonus_rule; /* as the ledger keeps it */
    if (op.kind == EC_OP_CHARGE_FUNDS)
        e->cash_or_card = op.cash_or_card;
    b->n++;
}

/* Appends the reversal of entry `seq` as the ledger makes it. */
static void post_reversal(book *b, int64_t seq, int64_t now)
{
    ec_entry *e = &b->e[b->n];
    const ec_entry *orig = &b->e[seq - 1];
    const ec_wallet *before = b->n ? &b->e[b->n - 1].after : &(ec_wallet){0};
    const char *refusal = NULL;
    memset(e, 0, sizeof *e);
    if (ec_ledger_apply_reversal(b->arena, before, orig, now, &e->after, &e->moves, &e->nmoves,
                                 &refusal) < 0) {
        printf("# Bail out! the rules refused a reversal of the fixture: %s\n", refusal);
        exit(1);
    }
    snprintf(e->account, sizeof e->account, "%s", b->account);
    e->seq = (int64_t)b->n + 1;
    e->at = now;
    snprintf(e->kind, sizeof e->kind, "reversal");
    snprintf(e->key, sizeof e->key, "reverse:%lld", (long long)seq);
    snprintf(e->ref, sizeof e->ref, "%lld", (long long)seq);
    snprintf(e->request_hash, sizeof e->request_hash, "h%lld", (long long)e->seq);
    e->amount = orig->amount;
    b->n++;
}

static ec_ledger_op credit(const char *label, int64_t amount)
{
    return (ec_ledger_op){.kind = EC_OP_CREDIT, .label = label, .amount = amount};
}

static ec_ledger_op charge(int64_t amount)
{
    return (ec_ledger_op){.kind = EC_OP_CHARGE, .label = "charge", .amount = amount};
}

static ec_voucher voucher(const char *id, const char *kind, int64_t face, int64_t threshold,
                          int64_t from, int64_t to)
{
    ec_voucher v = {.face = face, .threshold = threshold, .valid_from = from, .valid_to = to};
    snprintf(v.id, sizeof v.id, "%s", id);
    snprintf(v.kind, sizeof v.kind, "%s", kind);
    snprintf(v.source, sizeof v.source, "operator");
    return v;
}

static ec_ledger_op grant(const char *label, ec_voucher v)
{
    return (ec_ledger_op){.kind = EC_OP_GRANT_VOUCHER, .label = label, .voucher = v};
}

static ec_ledger_op buy_card(const char *id, int64_t face, int64_t valid_to, ec_voucher bonus)
{
    ec_ledger_op op = {.kind = EC_OP_BUY_CARD, .label = "card", .amount = face, .voucher = bonus};
    snprintf(op.card.id, sizeof op.card.id, "%s", id);
    snprintf(op.card.number, sizeof op.card.number, "6200%s", id);
    op.card.valid_to = valid_to;
    return op;
}

/*
 * Account A, nine entries:
 *   1 recharge 10000                      cash 10000
 *   2 voucher v1 ordinary 3000 [0, 1e5)
 *   3 card c1 5000 (to 2e5) + bonus v2 full_reduction 500 (threshold 4000) [3000, 1.5e5)
 *   4 charge 6000: v1 3000, v2 500, c1 2500
 *   5 charge 10000: c1 2500, cash 5000, arrears 2500
 *   6 remittance 4000: arrears 2500, cash 1500
 *   7 redeem v3 ordinary 200 [0, 10000)
 *   8 charge 100 at 9000: v3 100
 *   9 charge 300 at 20000 (v3 expired): cash 300
 */
static void book_a(book *b)
{
    b->arena = ec_arena_new(64 * 1024, 0);
    snprintf(b->account, sizeof b->account, "acct-a");
    b->n = 0;
    post(b, credit("recharge", 10000), 1000);
    post(b, grant("voucher", voucher("v1", "ordinary", 3000, 0, 0, 100000)), 2000);
    post(b, buy_card("c1", 5000, 200000, voucher("v2", "full_reduction", 500, 4000, 3000, 150000)),
         3000);
    post(b, charge(6000), 5000);
    post(b, charge(10000), 6000);
    post(b, credit("remittance", 4000), 7000);
    post(b, grant("redeem", voucher("v3", "ordinary", 200, 0, 0, 10000)), 8000);
    post(b, charge(100), 9000);
    post(b, charge(300), 20000);
}

/* Account B: 1 recharge 500, 2 charge 200 (cash). */
static void book_b(book *b)
{
    b->arena = ec_arena_new(16 * 1024, 0);
    snprintf(b->account, sizeof b->account, "acct-b");
    b->n = 0;
    post(b, credit("recharge", 500), 1000);
    post(b, charge(200), 2000);
}

static long audit(book *b, ec_audit_totals *t)
{
    int calls = 0;
    nfails = 0;
    long n = ec_audit_account(b->e, b->n, t, collect, &calls);
    if (n != calls)
        printf("# the audit returned %ld but reported %d\n", n, calls);
    return n;
}

/* Replaces an entry's moves. */
static void set_moves(book *b, ec_entry *e, size_t n, const ec_move *moves)
{
    e->moves = ec_arena_alloc(b->arena, (n + 1) * sizeof *e->moves);
    memcpy(e->moves, moves, n * sizeof *moves);
    e->nmoves = n;
}

static ec_voucher *voucher_in(ec_entry *e, const char *id)
{
    for (size_t i = 0; i < e->after.nvouchers; i++)
        if (strcmp(e->after.vouchers[i].id, id) == 0)
            return &e->after.vouchers[i];
    return NULL;
}

static ec_card *card_in(ec_entry *e, const char *id)
{
    for (size_t i = 0; i < e->after.ncards; i++)
        if (strcmp(e->after.cards[i].id, id) == 0)
            return &e->after.cards[i];
    return NULL;
}

static ec_move *move_of(ec_entry *e, const char *fund)
{
    for (size_t i = 0; i < e->nmoves; i++)
        if (strcmp(e->moves[i].fund, fund) == 0)
            return &e->moves[i];
    return NULL;
}

/* Audits the corrupted book: `code` at `seq` must be reported, and nothing earlier. */
static void expect(book *b, int64_t seq, const char *code, const char *name)
{
    long n = audit(b, NULL);
    int good = n > 0 && has(b->account, seq, code) && first_seq() == seq;
    ok(good, "%s: %s at %s seq %lld", name, code, b->account, (long long)seq);
    if (!good)
        show();
    ec_arena_free(b->arena);
}

/* The same, and it is the only failure. */
static void expect_only(book *b, int64_t seq, const char *code, const char *name)
{
    long n = audit(b, NULL);
    int good = besides_rules(n) == 1 && has(b->account, seq, code);
    ok(good, "%s: only %s at %s seq %lld", name, code, b->account, (long long)seq);
    if (!good)
        show();
    ec_arena_free(b->arena);
}

static void valid_books(void)
{
    book a, b;
    ec_audit_totals t;
    book_a(&a);
    is_int(a.e[3].split.ordinary_vouchers, 3000, "fixture: charge 4 is paid by v1 first");
    is_int(a.e[4].split.arrears, 2500, "fixture: charge 5 leaves arrears");
    is_int(a.e[8].split.cash, 300, "fixture: charge 9 does not use the expired v3");
    is_int(audit(&a, &t), 0, "a valid account passes");
    show();
    is_int(t.in, 10000 + 3000 + 500 + 4000 + 200, "money in: credits, grants, bonus");
    is_int(t.out, 6000 + 10000 + 100 + 300 + 100,
           "money out: charges, and the 100 v3 held when it expired and left the wallet");
    is_int(t.held, t.in - t.out, "balances held = in − out");
    ok(!t.unknown, "the totals are known");
    book_b(&b);
    is_int(audit(&b, &t), 0, "a second valid account passes");
    is_int(t.held, 300, "its balance");
    is_int(ec_audit_account(NULL, 0, &t, collect, &(int){0}), 0, "no entries, no failure");
    is_int(t.in + t.out + t.held, 0, "no entries, zero totals");
    ec_arena_free(a.arena);
    ec_arena_free(b.arena);
}

static void gaps(void)
{
    book a;
    book_a(&a);
    for (size_t i = 4; i < a.n; i++)
        a.e[i].seq++;
    expect_only(&a, 6, "seq_gap", "seq 5 missing (renumbered)");

    book_a(&a);
    memmove(&a.e[4], &a.e[5], (a.n - 5) * sizeof a.e[0]);
    a.n--;
    expect(&a, 6, "seq_gap", "entry 5 deleted");

    book_a(&a);
    a.e[0].seq = 0;
    expect(&a, 0, "seq_gap", "a first entry numbered 0");

    book_a(&a);
    a.e[3].seq = 3;
    long n = audit(&a, NULL);
    ok(n > 0 && has("acct-a", 3, "seq_gap"), "a repeated seq is reported");
    ec_arena_free(a.arena);
}

static void wrong_after(void)
{
    book a;
    book_a(&a);
    a.e[4].after.cash += 1;
    expect(&a, 5, "wrong_after", "cash off by one");

    /* A wrong voucher balance: reported where it appears, and where the voucher then leaves
     * the wallet while it still seems to hold money (v1 is used up at 4, gone from 5). */
    book_a(&a);
    for (size_t i = 3; i < a.n; i++)
        if (voucher_in(&a.e[i], "v1") != NULL)
            voucher_in(&a.e[i], "v1")->balance += 100;
    long n = audit(&a, NULL);
    ok(besides_rules(n) == 2 && has("acct-a", 4, "wrong_after") && has("acct-a", 5, "wrong_after"),
       "a voucher balance off by 100: wrong_after at 4, and at 5 where it leaves");
    if (besides_rules(n) != 2)
        show();
    ec_arena_free(a.arena);

    book_a(&a);
    a.e[4].after.arrears -= 10;
    expect(&a, 5, "wrong_after", "arrears off");

    book_a(&a);
    card_in(&a.e[3], "c1")->valid_to += 1000;
    expect(&a, 4, "wrong_after", "a card's validity extended");

    book_a(&a);
    voucher_in(&a.e[3], "v2")->face = 900;
    expect(&a, 4, "wrong_after", "a voucher's face changed");

    book_a(&a);
    a.e[7].after.nvouchers = 0; /* v3 dropped while it still holds 100 and is valid */
    expect(&a, 8, "wrong_after", "a live voucher disappears");

    book_a(&a);
    a.e[2].after.vouchers[1] = a.e[2].after.vouchers[0];
    expect(&a, 3, "wrong_after", "a voucher listed twice");
}

static void foreign(void)
{
    /* B's charge paid partly with A's voucher v3: a move on a fund B never received. */
    book b;
    book_b(&b);
    ec_entry *e = &b.e[1];
    set_moves(&b, e, 2, (ec_move[]){{"voucher:v3", -100}, {"cash", -100}});
    e->split.ordinary_vouchers = 100;
    e->split.cash = 100;
    e->after.cash = 400;
    long n = audit(&b, NULL);
    ok(n >= 1 && has("acct-b", 2, "foreign_fund") && first_seq() == 2,
       "another account's voucher spent: foreign_fund at acct-b seq 2");
    ok(has("acct-b", 2, "totals"), "and B's totals no longer add up");
    ok(!has("acct-b", 2, "conservation") && !has("acct-b", 2, "bad_split"),
       "the entry itself is conserved");
    if (n < 1)
        show();
    ec_arena_free(b.arena);

    /* The same with A's voucher copied into B's after. */
    book_b(&b);
    e = &b.e[1];
    set_moves(&b, e, 2, (ec_move[]){{"voucher:v3", -100}, {"cash", -100}});
    e->split.ordinary_vouchers = 100;
    e->split.cash = 100;
    e->after.cash = 400;
    e->after.vouchers = ec_arena_alloc(b.arena, sizeof(ec_voucher));
    e->after.vouchers[0] = voucher("v3", "ordinary", 200, 0, 0, 10000);
    e->after.vouchers[0].balance = 100;
    e->after.nvouchers = 1;
    expect(&b, 2, "foreign_fund", "a voucher appearing in a charge's after");

    /* A card that appears in a credit's after. */
    book_b(&b);
    e = &b.e[0];
    e->after.cards = ec_arena_alloc(b.arena, sizeof(ec_card));
    e->after.cards[0] = (ec_card){"zz", "6200zz", 100, 0, 0, 10000, 0};
    e->after.ncards = 1;
    expect(&b, 1, "foreign_fund", "a card appearing in a credit");
}

static void overspent(void)
{
    /* v1 (face 3000) pays 3500 of charge 4, the card 500 less: conserved but negative. */
    book a;
    book_a(&a);
    ec_entry *e = &a.e[3];
    move_of(e, "voucher:v1")->delta = -3500;
    move_of(e, "card:c1")->delta = -2000;
    voucher_in(e, "v1")->balance = -500;
    card_in(e, "c1")->balance = 3000;
    e->split.ordinary_vouchers = 3500;
    e->split.cards = 2000;
    expect(&a, 4, "negative_balance", "a voucher spent beyond its face");

    book_a(&a);
    e = &a.e[6];
    move_of(e, "voucher:v3")->delta = 300;
    voucher_in(e, "v3")->balance = 300;
    e->amount = 300;
    expect(&a, 7, "above_face", "a voucher granted above its face");
    book_a(&a);
    e = &a.e[6];
    move_of(e, "voucher:v3")->delta = 300;
    voucher_in(e, "v3")->balance = 300;
    e->amount = 300;
    audit(&a, NULL);
    ok(has("acct-a", 7, "conservation"), "and the grant is not conserved");
    ec_arena_free(a.arena);

    book_a(&a);
    a.e[8].after.cash = -1;
    a.e[8].moves[0].delta = -1501;
    a.e[8].split.cash = 1501;
    a.e[8].amount = 1501;
    expect_only(&a, 9, "negative_balance", "cash below zero");
}

static void expired(void)
{
    /* Charge 9 at 20000 paid with v3, which expired at 10000. */
    book a;
    book_a(&a);
    ec_entry *e = &a.e[8];
    set_moves(&a, e, 2, (ec_move[]){{"voucher:v3", -100}, {"cash", -200}});
    e->split.ordinary_vouchers = 100;
    e->split.cash = 200;
    /* v3 (retired from this entry's wallet by the rules) written back as spent here */
    e->after.vouchers[0] = a.e[7].after.vouchers[0];
    e->after.nvouchers = 1;
    voucher_in(e, "v3")->balance = 0;
    e->after.cash += 100;
    expect_only(&a, 9, "spent_outside_validity", "a voucher spent after its expiry");

    /* Charge 4 moved before v2's valid_from. */
    book_a(&a);
    a.e[3].at = 2500;
    expect(&a, 4, "spent_outside_validity", "a voucher and a card spent before they are valid");

    /* Charge 5 moved after the card expired (and after v1, v2: only the card moves). */
    book_a(&a);
    a.e[4].at = 200000;
    expect_only(&a, 5, "spent_outside_validity", "a card spent at its valid_to");

    /* The full-reduction v2 paying a charge below its threshold. */
    book_a(&a);
    e = &a.e[3];
    e->amount = 3600;
    move_of(e, "card:c1")->delta = -100;
    card_in(e, "c1")->balance = 4900;
    e->split.cards = 100;
    for (size_t i = 4; i < a.n; i++)
        if (card_in(&a.e[i], "c1") != NULL)
            card_in(&a.e[i], "c1")->balance += 2400;
    long n = audit(&a, NULL);
    ok(n >= 1 && has("acct-a", 4, "below_threshold") && first_seq() == 4,
       "a full-reduction voucher below its threshold: below_threshold at 4");
    ec_arena_free(a.arena);
}

static void keys(void)
{
    book a;
    book_a(&a);
    snprintf(a.e[5].key, sizeof a.e[5].key, "%s", a.e[1].key);
    expect_only(&a, 6, "duplicate_key", "a key used twice");
    book_a(&a);
    snprintf(a.e[5].key, sizeof a.e[5].key, "%s", a.e[1].key);
    audit(&a, NULL);
    ok(nfails == 1 && strstr(fails[0].message, "seq 2") != NULL, "the message names the first use");
    ec_arena_free(a.arena);

    /* The same key in two accounts is fine. */
    book b;
    book_b(&b);
    snprintf(b.e[0].key, sizeof b.e[0].key, "recharge:k1");
    is_int(audit(&b, NULL), 0, "keys are per account");
    ec_arena_free(b.arena);
}

static void conservation(void)
{
    book a;
    book_a(&a);
    a.e[0].amount = 12000;
    long n = audit(&a, NULL);
    ok(besides_rules(n) == 2 && has("acct-a", 1, "conservation") && has("acct-a", 9, "totals"),
       "a recharge whose amount is not what moved: conservation at 1, totals at 9");
    if (besides_rules(n) != 2)
        show();
    ec_arena_free(a.arena);

    /* A credit that leaves arrears unpaid (cash 4000 instead of 1500 + 2500 arrears). */
    book_a(&a);
    ec_entry *e = &a.e[5];
    set_moves(&a, e, 1, (ec_move[]){{"cash", 4000}});
    e->after.cash += 2500;
    e->after.arrears += 2500;
    for (size_t i = 6; i < a.n; i++) {
        a.e[i].after.cash += 2500;
        a.e[i].after.arrears += 2500;
    }
    expect_only(&a, 6, "conservation", "a credit that does not pay arrears first");

    /* A card bought for less cash than its face. */
    book_a(&a);
    e = &a.e[2];
    move_of(e, "cash")->delta = -4000;
    for (size_t i = 2; i < a.n; i++)
        a.e[i].after.cash += 1000;
    expect(&a, 3, "conservation", "a card cheaper than its face");

    /* A charge whose amount is more than what paid it. */
    book_a(&a);
    a.e[7].amount = 150;
    a.e[7].split.ordinary_vouchers = 150;
    expect(&a, 8, "conservation", "a charge paid less than its amount");

    /* A charge that pays into cash. */
    book_a(&a);
    e = &a.e[8];
    set_moves(&a, e, 2, (ec_move[]){{"cash", 100}, {"arrears", 400}});
    e->split.cash = -100;
    e->split.arrears = 400;
    for (size_t i = 8; i < a.n; i++) {
        a.e[i].after.cash += 400;
        a.e[i].after.arrears += 400;
    }
    expect(&a, 9, "conservation", "a charge that pays into cash");

    /* A grant that also moves cash. */
    book_a(&a);
    e = &a.e[1];
    set_moves(&a, e, 2, (ec_move[]){{"voucher:v1", 3000}, {"cash", 1}});
    for (size_t i = 1; i < a.n; i++)
        a.e[i].after.cash += 1;
    expect(&a, 2, "conservation", "a grant that moves cash");

    book_a(&a);
    a.e[6].amount = 0;
    voucher_in(&a.e[6], "v3")->face = 0;
    expect(&a, 7, "conservation", "a zero amount");
}

static void splits(void)
{
    book a;
    book_a(&a);
    a.e[4].split.cash += 100;
    a.e[4].split.arrears -= 100;
    expect_only(&a, 5, "bad_split", "a split that adds up but disagrees with the moves");

    book_a(&a);
    a.e[3].split.cards += 1;
    expect_only(&a, 4, "bad_split", "a split that does not add up to the amount");

    book_a(&a);
    a.e[3].split.ordinary_vouchers = 500;
    a.e[3].split.full_reduction_vouchers = 3000;
    expect_only(&a, 4, "bad_split", "ordinary and full-reduction parts swapped");

    book_a(&a);
    a.e[0].split.cash = 1;
    expect_only(&a, 1, "bad_split", "a recharge with a split");
}

/* The part of a bill vouchers may not pay: valid when only cards and cash paid it. */
static void cash_or_card(void)
{
    book b;
    book_b(&b);
    post(&b, grant("voucher", voucher("v9", "ordinary", 1000, 0, 0, 100000)), 3000);
    post(&b,
         (ec_ledger_op){
             .kind = EC_OP_CHARGE_CASH_OR_CARD, .label = "bill_cash_or_card", .amount = 500},
         4000);
    post(&b, (ec_ledger_op){.kind = EC_OP_CHARGE, .label = "bill", .amount = 400}, 5000);
    ec_audit_totals t;
    is_int(b.e[3].split.cash + b.e[3].split.arrears, 500, "fixture: cash and arrears paid it");
    is_int(b.e[4].split.ordinary_vouchers, 400, "fixture: the other part took the voucher");
    is_int(audit(&b, &t), 0, "bills paid by the rules pass");
    show();
    is_int(t.out, 200 + 500 + 400, "both parts count as money out");
    ec_arena_free(b.arena);

    /* The same charge under the restricted label, but paid by the voucher. */
    book_b(&b);
    post(&b, grant("voucher", voucher("v9", "ordinary", 1000, 0, 0, 100000)), 3000);
    post(&b, (ec_ledger_op){.kind = EC_OP_CHARGE, .label = "bill_cash_or_card", .amount = 500},
         4000);
    expect(&b, 4, "voucher_not_allowed", "a voucher paid a cash-or-card charge");
}

static void expect_rules(book *b, int64_t seq, const char *code, const char *name);

/* A cloud-settled bill's funds part: account B (cash 300 left) with a voucher and a card. */
static void book_cloud(book *b)
{
    book_b(b);
    post(b, grant("voucher", voucher("v9", "ordinary", 1000, 0, 0, 100000)), 3000);
    post(b, buy_card("c9", 200, 200000, (ec_voucher){0}), 3500);
    post(
        b,
        (ec_ledger_op){
            .kind = EC_OP_CHARGE_FUNDS, .label = "bill_funds", .amount = 1500, .cash_or_card = 300},
        4000);
}

static void cloud_funds(void)
{
    book b;
    ec_audit_totals t;
    book_cloud(&b);
    const ec_split *s = &b.e[4].split;
    ok(s->ordinary_vouchers == 1000 && s->cards == 200 && s->cash == 0 && s->unpaid == 300 &&
           b.e[4].after.cash == 100,
       "fixture: the voucher paid 1000 of 1200, the card 200, cash 100 untouched, 300 unpaid");
    is_int(audit(&b, &t), 0, "a cloud charge made by the rules passes");
    show();
    is_int(t.out, 200 + 1200, "only what the funds paid counts as money out");
    ec_arena_free(b.arena);

    /* The entry claims the card paid nothing more: the sums still add up (more unpaid). */
    book_cloud(&b);
    ec_move voucher_only[] = {{"voucher:v9", -1000}};
    set_moves(&b, &b.e[4], 1, voucher_only);
    card_in(&b.e[4], "c9")->balance = 200;
    b.e[4].split.cards = 0;
    b.e[4].split.unpaid = 500;
    expect_rules(&b, 5, "rules", "a cloud charge that left a usable card unused");

    /* Cash paid part of it: a cloud charge never takes cash. */
    book_cloud(&b);
    ec_move with_cash[] = {{"voucher:v9", -1000}, {"card:c9", -200}, {"cash", -100}};
    set_moves(&b, &b.e[4], 3, with_cash);
    b.e[4].after.cash = 0;
    b.e[4].split.cash = 100;
    b.e[4].split.unpaid = 200;
    expect(&b, 5, "conservation", "a cloud charge paid from cash");

    /* The stored SMS part is not the one the rules were asked: the voucher paid into it. */
    book_cloud(&b);
    b.e[4].cash_or_card = 600;
    expect_rules(&b, 5, "rules", "a cloud charge whose vouchers paid the SMS part");
}

static void unreadable(void)
{
    book a;
    book_a(&a);
    snprintf(a.e[2].kind, sizeof a.e[2].kind, "gift");
    long n = audit(&a, NULL);
    ok(n >= 1 && has("acct-a", 3, "unknown_kind"), "an unknown kind label is reported");
    ec_arena_free(a.arena);

    book_a(&a);
    snprintf(a.e[0].moves[0].fund, sizeof a.e[0].moves[0].fund, "bank");
    n = audit(&a, NULL);
    ok(n >= 1 && has("acct-a", 1, "unknown_fund") && first_seq() == 1,
       "a move on no fund is reported");
    ec_arena_free(a.arena);

    book_a(&a);
    set_moves(&a, &a.e[1], 3,
              (ec_move[]){{"voucher:v1", 3000}, {"cash", INT64_MAX}, {"cash", INT64_MAX}});
    n = audit(&a, NULL);
    ok(n >= 1 && has("acct-a", 2, "overflow") && first_seq() == 2,
       "moves summing past int64 are reported, not wrapped");
    ec_arena_free(a.arena);

    book_a(&a);
    set_moves(&a, &a.e[1], 2, (ec_move[]){{"voucher:v1", 3000}, {"cash", INT64_MAX}});
    n = audit(&a, NULL);
    ok(n >= 1 && has("acct-a", 2, "overflow") && first_seq() == 2,
       "a balance plus moves past int64 is reported");
    ec_arena_free(a.arena);

    book_a(&a);
    set_moves(&a, &a.e[8], 1, (ec_move[]){{"cash", INT64_MIN}});
    n = audit(&a, NULL);
    ok(n >= 1 && has("acct-a", 9, "overflow"), "a move of INT64_MIN is an overflow");
    ec_arena_free(a.arena);
}

static void unreachable(void)
{
    ec_error err = {0};
    ec_db *db = ec_db_new("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200", "audit_test",
                          "test", &err);
    ok(db != NULL, "a client for a closed port");
    ec_audit_summary sum;
    int calls = 0;
    ec_status st = db ? ec_audit_run(db, collect, &calls, &sum) : EC_ERR_INTERNAL;
    is_int(st, EC_ERR_UNAVAILABLE, "a database that does not answer: unavailable, not a pass");
    is_int(sum.entries, 0, "nothing read");
    ec_db_free(db);
}

/* The re-derivation's "rules" at seq is the one failure. */
static void expect_rules(book *b, int64_t seq, const char *code, const char *name)
{
    long n = audit(b, NULL);
    int good = n == 1 && has(b->account, seq, code);
    ok(good, "%s: only %s at %s seq %lld", name, code, b->account, (long long)seq);
    if (!good)
        show();
    ec_arena_free(b->arena);
}

/* Entries whose every sum adds up but which the rules would not have made: only the
 * re-derivation with ec_ledger_apply names them (the classes of issue 7, finding 3). */
static void rules(void)
{
    book b;

    /* A charge paid from cash and arrears while cash remained. */
    book_b(&b);
    ec_move cash_and_arrears[] = {{"cash", -100}, {"arrears", 100}};
    set_moves(&b, &b.e[1], 2, cash_and_arrears);
    b.e[1].after.cash = 400;
    b.e[1].after.arrears = 100;
    b.e[1].split.cash = 100;
    b.e[1].split.arrears = 100;
    expect_rules(&b, 2, "rules", "arrears while cash was left");

    /* A charge paid from cash while a usable voucher remained. */
    b.arena = ec_arena_new(16 * 1024, 0);
    snprintf(b.account, sizeof b.account, "acct-c");
    b.n = 0;
    post(&b, credit("recharge", 500), 1000);
    post(&b, grant("voucher", voucher("vc", "ordinary", 300, 0, 0, 100000)), 2000);
    post(&b, charge(200), 3000);
    ec_move from_cash[] = {{"cash", -200}};
    set_moves(&b, &b.e[2], 1, from_cash);
    voucher_in(&b.e[2], "vc")->balance = 300;
    b.e[2].after.cash = 300;
    b.e[2].split.ordinary_vouchers = 0;
    b.e[2].split.cash = 200;
    expect_rules(&b, 3, "rules", "cash spent before a usable voucher");

    /* Two vouchers used out of order: the one expiring last paid first. */
    b.arena = ec_arena_new(16 * 1024, 0);
    snprintf(b.account, sizeof b.account, "acct-d");
    b.n = 0;
    post(&b, grant("voucher", voucher("soon", "ordinary", 300, 0, 0, 50000)), 1000);
    post(&b, grant("voucher", voucher("late", "ordinary", 300, 0, 0, 90000)), 1100);
    post(&b, charge(300), 3000);
    ec_move late_first[] = {{"voucher:late", -300}};
    set_moves(&b, &b.e[2], 1, late_first);
    voucher_in(&b.e[2], "soon")->balance = 300;
    voucher_in(&b.e[2], "late")->balance = 0;
    expect_rules(&b, 3, "rules", "the voucher expiring last paid first");

    /* Reversals: made by the rules they pass; one that moves other than the rules, one of a
     * reversal, and one naming no entry are named. */
    book_b(&b);
    post_reversal(&b, 2, 3000);
    post_reversal(&b, 1, 4000);
    is_int(audit(&b, NULL), 0, "reversals made by the rules pass");
    ec_move half_back[] = {{"cash", -300}};
    set_moves(&b, &b.e[3], 1, half_back);
    b.e[3].after.cash = 200;
    b.e[3].after.arrears = 0;
    long n = audit(&b, NULL);
    ok(n >= 1 && has("acct-b", 4, "rules"), "a reversal that moves other than the rules: rules");
    ec_arena_free(b.arena);
    book_b(&b);
    post_reversal(&b, 2, 3000);
    b.e[b.n] = b.e[b.n - 1];
    b.e[b.n].seq = 4;
    snprintf(b.e[b.n].key, sizeof b.e[b.n].key, "reverse:3");
    snprintf(b.e[b.n].ref, sizeof b.e[b.n].ref, "3");
    b.e[b.n].after.cash = 500 - 200 + 200 - 200; /* a charge again, as reversing it would */
    b.n++;
    n = audit(&b, NULL);
    ok(has("acct-b", 4, "rules"), "a reversal of a reversal: rules at 4");
    ec_arena_free(b.arena);
    book_b(&b);
    post_reversal(&b, 1, 3000);
    snprintf(b.e[2].ref, sizeof b.e[2].ref, "7");
    snprintf(b.e[2].key, sizeof b.e[2].key, "reverse:7");
    expect_rules(&b, 3, "rules", "a reversal of an entry that does not exist");

    /* A voucher granted with a balance other than its face. */
    book_b(&b);
    post(&b, grant("voucher", voucher("vx", "ordinary", 300, 0, 0, 90000)), 3000);
    voucher_in(&b.e[2], "vx")->granted_at = 1;
    expect_rules(&b, 3, "rules", "a grant dated other than its entry");
}

static ec_ledger_op package(int64_t price)
{
    return (ec_ledger_op){.kind = EC_OP_BUY_PACKAGE, .label = "package", .amount = price};
}

/* Account B (cash 300), voucher v9 of 100, then a package of `price` as entry 4. */
static void book_package(book *b, int64_t price)
{
    book_b(b);
    post(b, grant("voucher", voucher("v9", "ordinary", 100, 0, 0, 100000)), 3000);
    post(b, package(price), 4000);
}

/* A package purchase is a charge in the deduction order that never leaves arrears. */
static void packages(void)
{
    book b;
    ec_audit_totals t;
    book_package(&b, 350);
    is_int(b.e[3].split.ordinary_vouchers * 10000 + b.e[3].split.cash, 100 * 10000 + 250,
           "fixture: the voucher paid 100, cash 250");
    is_int(audit(&b, &t), 0, "a package bought by the rules passes");
    show();
    is_int(t.out, 200 + 350, "its price counts as money out");
    ec_arena_free(b.arena);

    /* Cash spent while the voucher could pay: every sum adds up, only the rules object. */
    book_package(&b, 200);
    ec_move from_cash[] = {{"cash", -200}};
    set_moves(&b, &b.e[3], 1, from_cash);
    voucher_in(&b.e[3], "v9")->balance = 100;
    b.e[3].after.cash = 100;
    b.e[3].split.ordinary_vouchers = 0;
    b.e[3].split.cash = 200;
    expect_rules(&b, 4, "rules", "a package paid from cash before a usable voucher");

    /* A package that left arrears (400 on 100 + 300): the rules refuse it, conservation too. */
    book_package(&b, 350);
    ec_move into_arrears[] = {{"voucher:v9", -100}, {"cash", -300}, {"arrears", 50}};
    b.e[3].amount = 450;
    set_moves(&b, &b.e[3], 3, into_arrears);
    b.e[3].after.cash = 0;
    b.e[3].after.arrears = 50;
    b.e[3].split.cash = 300;
    b.e[3].split.arrears = 50;
    long n = audit(&b, NULL);
    ok(has("acct-b", 4, "rules") && has("acct-b", 4, "conservation"),
       "a package purchase into arrears: rules (insufficient_funds) and conservation at 4");
    if (!has("acct-b", 4, "rules") || !has("acct-b", 4, "conservation") || n < 2)
        show();
    ec_arena_free(b.arena);
}

/* Account B, then a card of 300 (cash 300) with bonus voucher `bonus` (face 0: none), under
 * the bonus rule `rule` as entry 3. */
static void book_bonus(book *b, ec_bonus_rule rule, ec_voucher bonus)
{
    book_b(b);
    ec_ledger_op op = buy_card("cb", 300, 200000, bonus);
    op.bonus_rule = rule;
    post(b, op, 3000);
}

/* A card's bonus voucher against the bonus rule its entry recorded (issue 7, finding 3). */
static void bonus_face(void)
{
    const ec_bonus_rule ten = {1, 10, 50}, zero = {1, 0, 0}, old = {0, 0, 0};
    const ec_voucher none = {0};
    book b;

    book_bonus(&b, ten, voucher("vb", "full_reduction", 30, 150, 3000, 90000));
    is_int(audit(&b, NULL), 0, "a card with the bonus its rule gives (10% of 300, 50%) passes");
    show();
    ec_arena_free(b.arena);

    book_bonus(&b, zero, none);
    is_int(audit(&b, NULL), 0, "a card under a 0% rule without a bonus passes");
    show();
    ec_arena_free(b.arena);

    book_b(&b);
    ec_ledger_op small = buy_card("cs", 9, 200000, none);
    small.bonus_rule = (ec_bonus_rule){1, 10, 0};
    post(&b, small, 3000);
    is_int(audit(&b, NULL), 0, "a bonus that rounds down to 0 is no voucher, and passes");
    show();
    ec_arena_free(b.arena);

    book_bonus(&b, ten, voucher("vb", "full_reduction", 60, 150, 3000, 90000));
    expect_only(&b, 3, "bonus_face", "a bonus voucher of twice the rule's face");

    book_bonus(&b, ten, voucher("vb", "ordinary", 30, 0, 3000, 90000));
    expect_only(&b, 3, "bonus_face", "a bonus voucher of the wrong kind");

    book_bonus(&b, ten, voucher("vb", "full_reduction", 30, 0, 3000, 90000));
    expect_only(&b, 3, "bonus_face", "a bonus voucher without the rule's threshold");

    book_bonus(&b, zero, voucher("vb", "full_reduction", 30, 150, 3000, 90000));
    expect_only(&b, 3, "bonus_face", "a bonus voucher on a purchase that recorded 0%");

    book_bonus(&b, ten, none);
    expect_only(&b, 3, "bonus_face", "no bonus voucher where the rule gives one");

    book_bonus(&b, (ec_bonus_rule){1, 101, 50},
               voucher("vb", "full_reduction", 303, 150, 3000, 90000));
    expect(&b, 3, "bonus_face", "a recorded rule out of range");

    /* Entries from before the rule was kept: any bonus up to the card's face passes. */
    book_bonus(&b, old, voucher("vb", "full_reduction", 30, 150, 3000, 90000));
    is_int(audit(&b, NULL), 0, "an old entry without the rule and a bonus of 30 passes");
    show();
    ec_arena_free(b.arena);

    book_bonus(&b, old, voucher("vb", "ordinary", 300, 0, 3000, 90000));
    is_int(audit(&b, NULL), 0, "an old entry's bonus as large as the card passes");
    show();
    ec_arena_free(b.arena);

    book_bonus(&b, old, voucher("vb", "full_reduction", 301, 0, 3000, 90000));
    expect(&b, 3, "bonus_face", "an old entry's bonus larger than the card");
}

int main(void)
{
    valid_books();
    gaps();
    wrong_after();
    foreign();
    overspent();
    expired();
    keys();
    conservation();
    splits();
    cash_or_card();
    cloud_funds();
    unreadable();
    unreachable();
    rules();
    packages();
    bonus_face();
    return tap_done();
}
