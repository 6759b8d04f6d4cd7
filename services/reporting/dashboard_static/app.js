// Sajja operations dashboard: reads the public APIs through the gateway, draws with Chart.js, and
// refreshes when the reporting projections announce applied events (server-sent events).
"use strict";

const T = {
  th: {
    title: "แดชบอร์ดการดำเนินงานกลุ่มออมทรัพย์เพื่อการผลิต",
    as_of: "ข้อมูล ณ วันที่",
    live_on: "สด", live_off: "ไม่เชื่อมต่อ", live_events: "เหตุการณ์ใหม่",
    lang_switch: "English",
    groups: "จำนวนกลุ่ม", members: "จำนวนสมาชิก (คน)", savings: "เงินออมรวม (บาท)",
    sajja_savings: "เงินสัจจะสะสม (บาท)", special_savings: "เงินสัจจะสะสมพิเศษ (บาท)",
    borrowers: "สมาชิกกู้ยืม (คน)", loans_outstanding: "เงินกู้คงค้าง (บาท)",
    savings_over_time: "เงินออมและเงินกู้คงค้าง ณ สิ้นเดือน",
    portfolio: "คุณภาพสินเชื่อ", par30: "PAR30",
    bucket_current: "ปกติ", bucket_days: "ค้าง {b} วัน",
    outstanding: "เงินต้นคงค้าง (บาท)",
    campaign: "โครงการรณรงค์", campaign_window: "ช่วงกิจกรรม {from} ถึง {to}", no_campaign: "ยังไม่มีโครงการ",
    reports: "รายงานผลการส่งเสริมการออม", deadline: "กำหนดส่ง {d}",
    state_submitted: "ส่งแล้ว", state_late: "ส่งช้า", state_due: "รอส่ง", state_overdue: "เกินกำหนด",
    area: "พื้นที่", state: "สถานะ", submitted_on: "วันที่ส่ง",
    children_province: "รายจังหวัด", children_district: "รายอำเภอ", children_group: "รายกลุ่ม",
    name: "ชื่อ",
    referrals: "การส่งต่อลูกค้าให้ธนาคารออมสิน",
    referred: "ส่งต่อ", contacted: "ติดต่อแล้ว", approved: "อนุมัติ", loan_granted: "ได้รับสินเชื่อ",
    declined: "ไม่อนุมัติ", revoked: "ถอนความยินยอม",
    smart: "ระดับกลุ่ม SMART Saving Group", smart_level: "ระดับ", smart_top: "อยู่ในระดับสูงสุดแล้ว",
    smart_gap: "ยังขาด: {c}",
    books: "งบทดลอง (ยอดคงเหลือที่ไม่เป็นศูนย์)", account: "บัญชี", balance: "ยอดคงเหลือ (บาท)",
    debit: "เดบิต (บาท)", credit: "เครดิต (บาท)", total: "รวม",
    loan_heading: "สัญญาที่ {i} จาก {of} · จ่ายเงินกู้ {d} · วงเงิน {p} บาท · คงค้าง {o} บาท",
    report_submit: "ส่งรายงาน", report_actions: "ส่ง / ดาวน์โหลด", report_own_province: "รายงานของจังหวัด{a}",
    report_confirm: "ส่งรายงานผลการส่งเสริมการออมของ{a} ลงวันที่ {d}\nตัวเลขตามที่ระบบนับได้ ณ วันนี้ และส่งได้ครั้งเดียว\nหมายเหตุ (ถ้ามี):",
    report_sent: "ส่งรายงานของ{a}แล้ว ลงวันที่ {d}", report_sent_late: "ส่งรายงานของ{a}แล้ว ลงวันที่ {d} (หลังกำหนดส่ง)",
    report_forbidden: "ไม่มีสิทธิ์ส่งรายงานของพื้นที่นี้", report_already: "รายงานนี้ส่งไปแล้ว หรือโครงการยังไม่เริ่ม",
    report_invalid: "ข้อมูลรายงานไม่ถูกต้อง", report_area_district: "อำเภอ{a}", report_area_province: "จังหวัด{a}",
    balance_sheet: "งบแสดงฐานะการเงิน", income_statement: "งบกำไรขาดทุน", statement_as_of: "ณ วันที่ {d}",
    statement_period: "{from} – {to}", amount: "จำนวนเงิน (บาท)",
    assets: "สินทรัพย์", total_assets: "รวมสินทรัพย์", liabilities: "หนี้สิน", total_liabilities: "รวมหนี้สิน",
    equity: "ทุนและกองทุน", total_equity: "รวมทุนและกองทุน", unallocated_profit: "กำไรที่ยังไม่ได้จัดสรร",
    total_claims: "รวมหนี้สินและทุน", income: "รายได้", total_income: "รวมรายได้", expenses: "ค่าใช้จ่าย",
    total_expenses: "รวมค่าใช้จ่าย", net_profit: "กำไร (ขาดทุน) สุทธิ", not_balanced: "งบไม่สมดุล", no_entries: "ไม่มีรายการ",
    footer: "วันที่แสดงเป็นพุทธศักราช · จำนวนเงินเป็นบาท",
    error: "โหลดข้อมูลไม่สำเร็จ: {e}",
    error_forbidden: "บัญชีผู้ใช้นี้ไม่มีสิทธิ์ดูข้อมูลของพื้นที่นี้",
    error_not_found: "ไม่พบข้อมูลของพื้นที่หรือกลุ่มนี้",
    error_failed: "ระบบขัดข้องชั่วคราว กรุณาลองใหม่อีกครั้ง", go_home: "กลับไปยังพื้นที่ของท่าน",
    no_data: "ยังไม่มีข้อมูล", target: "เป้าหมาย",
    fresh: "ตัวเลขรับเหตุการณ์ล่าสุดเมื่อ {at} น. (หลังเกิดเหตุการณ์ {d} วินาที)", fresh_none: "ยังไม่มีเหตุการณ์ใหม่ตั้งแต่ระบบเริ่มทำงาน",
    fresh_waiting: " · รอเหตุการณ์ที่ขาดหาย {n} รายการ",
    collection_open: "บันทึกการรับเงินประจำเดือน", collection_title: "บันทึกการรับเงินประจำเดือน — {g}",
    collection_back: "กลับไปหน้ากลุ่ม", collection_month: "เดือน", collection_round: "รอบ",
    collection_date: "ลงวันที่รับเงิน {d}", collection_submit: "บันทึกทั้งแผ่น", collection_close: "ปิดงวดบัญชีเดือนนี้",
    collection_closed: "เดือนนี้ปิดงวดบัญชีแล้ว: บันทึกเพิ่มไม่ได้", collection_future: "เดือนนี้ยังไม่ถึง",
    collection_ended: "เดือนนี้สิ้นสุดแล้ว: ปิดงวดบัญชีได้เมื่อบันทึกครบ",
    member: "สมาชิก", commitment: "เงินสัจจะที่ต้องส่ง", paid_so_far: "ส่งแล้วเดือนนี้",
    sajja_in: "สัจจะ (บาท)", special_in: "ฝากพิเศษ (บาท)", result: "ผล",
    members_list: "สมาชิก", joined: "วันที่เข้า", missed: "ขาดส่ง (งวด)", loan_outstanding: "เงินกู้คงค้าง",
    days_late: "ค้าง (วัน)", exited: "ลาออก {d}", schedule_title: "ตารางผ่อนชำระ — {n}", installment_no: "งวด",
    due_on: "ครบกำหนด", principal: "เงินต้น", interest: "ดอกเบี้ย", status: "สถานะ",
    status_paid: "ชำระแล้ว", status_due: "ถึงกำหนด", status_overdue: "ค้างชำระ", status_upcoming: "ยังไม่ถึง",
    collection_report: "รายงานประจำเดือน (PDF)", collection_receipts: "ใบรับเงิน (PDF)",
    collection_total: "จะบันทึก {n} รายการ รวม {b} บาท", collection_confirm: "บันทึก {n} รายการ รวม {b} บาท ตรงกับเงินที่รับมาจริงหรือไม่?\nช่องที่สมาชิกไม่ได้ส่งให้ลบออกก่อน",
    repayment_in: "ชำระเงินกู้ (บาท)", loan_due: "ถึงกำหนด {d}", loan_late: " · ค้าง {n} วัน",
    posting: "กำลังบันทึก {n} จาก {of}…", posted_all: "บันทึกแล้ว {ok} รายการ, ไม่รับ {bad} รายการ",
    line_ok: "✓ บันทึกแล้ว", line_bad_amount: "✗ จำนวนเงินไม่ถูกต้อง (เช่น 100 หรือ 100.50)",
    line_closed: "✗ เดือนนี้ปิดงวดบัญชีแล้ว", line_rule: "✗ ระบบไม่รับตามกฎของกลุ่ม",
    line_again: "✗ บรรทัดนี้บันทึกในรอบนี้ไปแล้วด้วยจำนวนอื่น: เลือกรอบใหม่เพื่อบันทึกเพิ่ม",
    line_forbidden: "✗ ไม่มีสิทธิ์บันทึกให้กลุ่มนี้", line_failed: "✗ ระบบขัดข้อง: ส่งใหม่ได้ ไม่บันทึกซ้ำ",
    month_closed_now: "ปิดงวดบัญชีแล้ว: สมาชิกที่ส่งไม่ครบ {n} คน",
    par30_percent: "PAR30 (%)", province_report: "รายงานจังหวัด (PDF)", campaign_breakdown: "ตัวเลขรายจังหวัด (XLSX)",
    campaign_report_pdf: "แบบรายงานการส่งเสริมการออม (PDF)", campaign_report_xlsx: "แบบรายงาน (XLSX)",
    worklist_closes: "กลุ่มที่ยังไม่ปิดงวดบัญชีประจำเดือน", worklist_count: "{n} จาก {of} กลุ่ม",
    last_closed: "ปิดงวดล่าสุด", months_behind: "ค้าง (เดือน)", never_closed: "ยังไม่เคยปิด",
    search: "ค้นหากลุ่มหรือสมาชิก", search_go: "ค้นหา", search_none: "ไม่พบกลุ่มหรือสมาชิกที่ตรงกับคำค้น",
    search_hint: "ชื่อกลุ่ม ชื่อสมาชิก หรือเลขประจำตัวประชาชน", search_groups: "กลุ่ม", search_members: "สมาชิก",
    overdue_loans: "สัญญาเงินกู้ค้างชำระที่ต้องติดตาม", overdue_count: "{n} สัญญา · เงินต้นคงค้าง {b} บาท",
    overdue_amount: "ยอดค้างชำระ (บาท)", group: "กลุ่ม", loan_kind: "ประเภทเงินกู้", show_more: "แสดงเพิ่ม",
    name_erased: "(ลบข้อมูลส่วนบุคคลแล้ว)", none_listed: "ไม่มีรายการ",
    approvals_waiting: "คำขอกู้ที่รอผู้ตรวจสอบอนุมัติ", approvals_count: "{n} รายการที่ท่านอนุมัติได้",
    applied_by: "ยื่นกู้ / ผู้บันทึก", approvals_done: "อนุมัติแล้ว", member_group: "สมาชิก / กลุ่ม", smart_col: "ระดับ SMART",
    campaign_area_national: "ตัวเลขทั่วประเทศ", campaign_area_province: "ตัวเลขของจังหวัด{a}",
    campaign_area_district: "ตัวเลขของอำเภอ{a}", campaign_area_group: " (ทั้งอำเภอ ไม่ใช่เฉพาะกลุ่มนี้)",
    at_most: "ไม่เกิน {v}", at_least: "อย่างน้อย {v}",
    day: "วัน", month: "เดือน", year: "ปี พ.ศ.",
    sign_in: "เข้าสู่ระบบ", sign_out: "ออกจากระบบ", username: "ชื่อผู้ใช้", password: "รหัสผ่าน",
    sign_in_failed: "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง", throttled: "ลองเข้าสู่ระบบบ่อยเกินไป กรุณารอ {s} วินาทีแล้วลองใหม่", busy: "ระบบกำลังมีผู้เข้าสู่ระบบจำนวนมาก กรุณาลองใหม่อีกครั้ง",
    criteria: {
      books_up_to_date: "บัญชีเป็นปัจจุบัน (เดือนที่ค้าง)", savings_regularity: "ความสม่ำเสมอในการออม",
      savings_growth: "การเติบโตของเงินออม", par30: "PAR30 (%)", governance: "เรื่องธรรมาภิบาลที่บันทึก",
    },
    counters: {
      new_members: "สมาชิกใหม่", commitment_raises: "เพิ่มเงินสัจจะ", special_depositors: "ผู้ฝากพิเศษ",
      special_deposits: "ครั้งที่ฝากพิเศษ", special_deposit_amount: "ยอดฝากพิเศษ (บาท)",
      members_taking_part: "สมาชิกที่เข้าร่วม", groups_taking_part: "กลุ่มที่เข้าร่วม",
      savings_added: "เงินออมที่เพิ่มขึ้น (บาท)",
    },
  },
  en: {
    title: "Savings groups for production: operations dashboard",
    as_of: "As of",
    live_on: "Live", live_off: "Disconnected", live_events: "new events",
    lang_switch: "ภาษาไทย",
    groups: "Groups", members: "Members", savings: "Savings (THB)",
    sajja_savings: "Sajja savings (THB)", special_savings: "Special savings (THB)",
    borrowers: "Borrowers", loans_outstanding: "Loans outstanding (THB)",
    savings_over_time: "Savings and loans outstanding at month end",
    portfolio: "Portfolio quality", par30: "PAR30",
    bucket_current: "Current", bucket_days: "{b} days late",
    outstanding: "Principal outstanding (THB)",
    campaign: "Campaign", campaign_window: "Campaigning {from} to {to}", no_campaign: "No campaign yet",
    reports: "Savings-promotion reports", deadline: "Due {d}",
    state_submitted: "Submitted", state_late: "Late", state_due: "Due", state_overdue: "Overdue",
    area: "Area", state: "State", submitted_on: "Submitted on",
    children_province: "By province", children_district: "By district", children_group: "By group",
    name: "Name",
    referrals: "Referrals to the Government Savings Bank",
    referred: "Referred", contacted: "Contacted", approved: "Approved", loan_granted: "Loan granted",
    declined: "Declined", revoked: "Consent withdrawn",
    smart: "SMART Saving Group level", smart_level: "Level", smart_top: "At the top level",
    smart_gap: "Missing: {c}",
    books: "Trial balance (non-zero balances)", account: "Account", balance: "Balance (THB)",
    debit: "Debit (THB)", credit: "Credit (THB)", total: "Total",
    loan_heading: "Loan {i} of {of} · paid out {d} · {p} THB · {o} THB outstanding",
    report_submit: "Submit", report_actions: "Submit / download", report_own_province: "{a} province's own report",
    report_confirm: "Submit {a}'s savings-promotion report, dated {d}?\nIt carries the counters as they stand today and is sent once only.\nNotes (optional):",
    report_sent: "{a}'s report is in, dated {d}", report_sent_late: "{a}'s report is in, dated {d} (after the deadline)",
    report_forbidden: "Not allowed to submit this area's report", report_already: "This report is in already, or the campaign has not started",
    report_invalid: "The report was not accepted as sent", report_area_district: "{a} district", report_area_province: "{a} province",
    balance_sheet: "Balance sheet", income_statement: "Income statement", statement_as_of: "as of {d}",
    statement_period: "{from} – {to}", amount: "Amount (THB)",
    assets: "Assets", total_assets: "Total assets", liabilities: "Liabilities", total_liabilities: "Total liabilities",
    equity: "Funds and reserves", total_equity: "Total funds and reserves", unallocated_profit: "Profit not yet allocated",
    total_claims: "Total liabilities and funds", income: "Income", total_income: "Total income", expenses: "Expenses",
    total_expenses: "Total expenses", net_profit: "Net profit (loss)", not_balanced: "Does not balance", no_entries: "None",
    footer: "Dates in the Common Era · amounts in baht",
    error: "Could not load: {e}",
    error_forbidden: "This account may not see this area's figures",
    error_not_found: "No figures for this area or group",
    error_failed: "The system could not answer just now: please try again", go_home: "Back to your area",
    no_data: "No data yet", target: "Target",
    fresh: "Figures took their latest events at {at} ({d} s after they happened)", fresh_none: "No new events since the system started",
    fresh_waiting: " · {n} streams waiting for a missing event",
    collection_open: "Record the month's collection", collection_title: "Monthly collection — {g}",
    collection_back: "Back to the group", collection_month: "Month", collection_round: "Round",
    collection_date: "Dated {d}", collection_submit: "Record the whole sheet", collection_close: "Close this month",
    collection_closed: "This month is closed: nothing more can be recorded", collection_future: "This month has not come yet",
    collection_ended: "This month has ended: close it once everything is recorded",
    member: "Member", commitment: "Commitment due", paid_so_far: "Paid this month",
    sajja_in: "Sajja (THB)", special_in: "Special (THB)", result: "Result",
    members_list: "Members", joined: "Joined", missed: "Missed (installments)", loan_outstanding: "Loan outstanding",
    days_late: "Days late", exited: "left {d}", schedule_title: "Repayment schedule — {n}", installment_no: "No.",
    due_on: "Due", principal: "Principal", interest: "Interest", status: "Status",
    status_paid: "Paid", status_due: "Due", status_overdue: "Overdue", status_upcoming: "Upcoming",
    collection_report: "Month's report (PDF)", collection_receipts: "Receipts (PDF)",
    collection_total: "{n} lines to record, {b} THB in all", collection_confirm: "Record {n} lines, {b} THB in all: is that the cash received?\nClear the boxes of members who did not pay first.",
    repayment_in: "Loan repayment (THB)", loan_due: "due {d}", loan_late: " · {n} days late",
    posting: "Recording {n} of {of}…", posted_all: "{ok} recorded, {bad} refused",
    line_ok: "✓ Recorded", line_bad_amount: "✗ Not an amount (e.g. 100 or 100.50)",
    line_closed: "✗ The month is closed", line_rule: "✗ Refused by the group's rules",
    line_again: "✗ Recorded in this round with another amount: choose a new round to add more",
    line_forbidden: "✗ Not allowed for this group", line_failed: "✗ Failed: send again, nothing is recorded twice",
    month_closed_now: "Month closed: {n} members paid short",
    par30_percent: "PAR30 (%)", province_report: "Province report (PDF)", campaign_breakdown: "Figures by province (XLSX)",
    campaign_report_pdf: "Savings-promotion report (PDF)", campaign_report_xlsx: "Report (XLSX)",
    worklist_closes: "Groups behind on their month-end close", worklist_count: "{n} of {of} groups",
    last_closed: "Last closed", months_behind: "Behind (months)", never_closed: "Never closed",
    search: "Find a group or member", search_go: "Search", search_none: "No group or member matches",
    search_hint: "Group or member name, or national ID", search_groups: "Groups", search_members: "Members",
    overdue_loans: "Overdue loans to follow up", overdue_count: "{n} loans · {b} THB principal outstanding",
    overdue_amount: "Overdue (THB)", group: "Group", loan_kind: "Loan kind", show_more: "Show more",
    name_erased: "(personal data erased)", none_listed: "Nothing listed",
    approvals_waiting: "Loan applications waiting for a checker", approvals_count: "{n} you may approve",
    applied_by: "Applied / by", approvals_done: "Approved", member_group: "Member / group", smart_col: "SMART level",
    campaign_area_national: "Figures for the whole country", campaign_area_province: "Figures for {a} province",
    campaign_area_district: "Figures for {a} district", campaign_area_group: " (the whole district, not this group alone)",
    at_most: "at most {v}", at_least: "at least {v}",
    day: "Day", month: "Month", year: "Year",
    sign_in: "Sign in", sign_out: "Sign out", username: "Username", password: "Password",
    sign_in_failed: "Wrong username or password", throttled: "Too many sign-in attempts: wait {s} s and try again", busy: "Many people are signing in right now: please try again",
    criteria: {
      books_up_to_date: "Books up to date (months behind)", savings_regularity: "Savings regularity",
      savings_growth: "Savings growth", par30: "PAR30 (%)", governance: "Governance items recorded",
    },
    counters: {
      new_members: "New members", commitment_raises: "Commitment raises", special_depositors: "Special depositors",
      special_deposits: "Special deposits", special_deposit_amount: "Special deposits (THB)",
      members_taking_part: "Members taking part", groups_taking_part: "Groups taking part",
      savings_added: "Savings added (THB)",
    },
  },
};
const STATS = ["groups", "members", "savings", "sajja_savings", "special_savings", "borrowers", "loans_outstanding"];
const MONEY = new Set(["savings", "sajja_savings", "special_savings", "loans_outstanding",
  "special_deposit_amount", "savings_added"]);
const PIPELINE = ["referred", "contacted", "approved", "loan_granted", "declined", "revoked"];
const CHILD = { national: "province", province: "district", district: "group" };

const state = {
  level: "national", code: null, asOf: null,
  lang: localStorage.getItem("sajja.lang") || "th", me: null,
  campaignId: null, campaigns: [], liveEvents: 0, loads: 0,
};
const charts = {};
window.sajjaDashboard = { state, charts };

const $ = (id) => document.getElementById(id);
const t = (key, vars = {}) => {
  let text = T[state.lang][key] ?? key;
  for (const [k, v] of Object.entries(vars)) text = text.replace(`{${k}}`, v);
  return text;
};
const name = (item) => (state.lang === "th" ? item.name_th : item.name_en || item.name_th) || item.code;

// Money arrives as decimal strings; it is grouped as text, never through floating point.
function money(text) {
  const [whole, frac = "00"] = String(text).split(".");
  const negative = whole.startsWith("-");
  const digits = negative ? whole.slice(1) : whole;
  return (negative ? "-" : "") + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + frac;
}
const count = (n) => Number(n).toLocaleString(state.lang === "th" ? "th-TH" : "en-GB");
const shown = (key, value) => (MONEY.has(key) ? money(value) : count(value));
// Chart axes need numbers: baht as a number is only ever drawn, never added up.
const plotted = (text) => Number(text);

function localDate(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(y, m - 1, d);
}
// Thai: Buddhist Era, Thai month names (6 มี.ค. 2567); English: the Common Era.
function date(iso, long = false) {
  if (!iso) return "";
  const locale = state.lang === "th" ? "th-TH-u-ca-buddhist-nu-latn" : "en-GB";
  return new Intl.DateTimeFormat(locale, { day: "numeric", month: long ? "long" : "short", year: "numeric" })
    .format(localDate(iso));
}
function todayInThailand() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Bangkok" }).format(new Date());
}

class SignedOut extends Error {}
// A refused or failed read: the page says what it means in words (never an API path).
class LoadFailed extends Error {
  constructor(status) { super(`HTTP ${status}`); this.status = status; }
}
const failure = (error) => t(error.status === 403 ? "error_forbidden" : error.status === 404 ? "error_not_found" : "error_failed");

async function getJSON(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined));
  const response = await fetch(query.size ? `${path}?${query}` : path, { headers: { Accept: "application/json" } });
  if (response.status === 401) throw new SignedOut(path);
  if (!response.ok) throw new LoadFailed(response.status);
  return response.json();
}

function area() {
  return state.level === "national" ? { level: "national" } : { level: state.level, code: state.code };
}

function routeFromHash() {
  const [, level, code, view] = (location.hash.replace(/^#/, "") || "/national").split("/");
  if (["province", "district", "group"].includes(level) && code) {
    state.level = level; state.code = decodeURIComponent(code);
  } else {
    state.level = "national"; state.code = null;
  }
  state.view = level === "group" && view === "collection" ? "collection" : null;
}
const hashFor = (level, code) => (level === "national" ? "#/national" : `#/${level}/${encodeURIComponent(code)}`);

// Tables sort by any column: a click on its heading, again for the other way. A row marked `fixed` (a total)
// stays last. Figures sort as numbers (their grouping commas aside), text in the page's language's order.
const sorting = {};
function sortKey(text, num) {
  if (!num) return String(text);
  const value = Number(String(text).replace(/,/g, "").replace(/[^0-9.-]/g, ""));
  return Number.isNaN(value) ? -Infinity : value;
}
function table(el, headings, rows) {
  // A sort belongs to a table with these columns: a district's groups do not inherit the province's sort.
  const key = `${el.id}|${headings.map((h) => h[0]).join("|")}`;
  const order = sorting[key];
  let shownRows = rows;
  if (order) {
    const num = Boolean(headings[order.col] && headings[order.col][1]);
    const loose = rows.filter((r) => !r.fixed).slice();
    loose.sort((a, b) => {
      const x = sortKey(a.cells[order.col][0], num), y = sortKey(b.cells[order.col][0], num);
      const c = num ? x - y : String(x).localeCompare(String(y), state.lang === "th" ? "th" : "en");
      return order.dir * c;
    });
    shownRows = [...loose, ...rows.filter((r) => r.fixed)];
  }
  el.querySelector("thead").innerHTML =
    "<tr>" + headings.map(([label, num], i) => {
      const mark = order && order.col === i ? (order.dir > 0 ? " ▲" : " ▼") : "";
      return `<th${num ? ' class="num"' : ""} data-col="${i}" aria-sort="${mark ? (order.dir > 0 ? "ascending" : "descending") : "none"}">${label}${mark}</th>`;
    }).join("") + "</tr>";
  for (const th of el.querySelectorAll("thead th")) {
    th.addEventListener("click", () => {
      const col = Number(th.dataset.col);
      const before = sorting[key];
      sorting[key] = { col, dir: before && before.col === col ? -before.dir : 1 };
      table(el, headings, rows);
    });
  }
  const body = el.querySelector("tbody");
  body.innerHTML = "";
  for (const row of shownRows) {
    const tr = document.createElement("tr");
    tr.innerHTML = row.cells.map(([text, num, cls]) =>
      `<td class="${[num ? "num" : "", cls || ""].join(" ").trim()}">${text instanceof Markup ? text.html : escapeHtml(text)}</td>`).join("");
    if (row.href) { tr.addEventListener("click", () => { location.hash = row.href; }); tr.dataset.href = row.href; }
    for (const [k, v] of Object.entries(row.data || {})) tr.dataset[k] = v;
    body.appendChild(tr);
  }
}
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
// A cell of links or buttons the page built itself (every value in it escaped); it sorts by its text.
class Markup {
  constructor(html, text = "") { this.html = html; this.text = text; }
  toString() { return this.text; }
}

function draw(id, config) {
  const canvas = $(id);
  // The chart fills its box, whose height the style sheet fixes: no strip on a phone, no 600-px bar chart.
  config.options = { ...(config.options || {}), responsive: true, maintainAspectRatio: false };
  if (charts[id]) {
    charts[id].data = config.data;
    charts[id].options = config.options || {};
    charts[id].update("none");
  } else {
    charts[id] = new Chart(canvas, config);
  }
  // What the test (and a curious officer) can read back: how many points were drawn.
  canvas.dataset.points = String(config.data.labels.length);
  // Bare axes say nothing: an empty chart says there is no data.
  const empty = !config.data.labels.length || config.data.datasets.every((d) => d.data.every((v) => !v));
  let note = canvas.parentElement.querySelector(".no-data");
  if (!note) {
    note = document.createElement("p");
    note.className = "no-data";
    canvas.parentElement.appendChild(note);
  }
  note.textContent = t("no_data");
  note.hidden = !empty;
  canvas.dataset.empty = empty ? "1" : "0";
}

function staticTexts() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("lang_switch");
  $("search").placeholder = t("search_hint");
  $("sign-out").textContent = t("sign_out");
  const asOf = state.asOf || todayInThailand();
  $("as-of").value = asOf;
  // Thai: the date is picked in the Buddhist Era with Thai month names (a browser's own picker shows the
  // Common Era in its locale's order); English keeps the browser's picker.
  const thai = state.lang === "th";
  $("as-of").hidden = thai;
  $("as-of-th").hidden = !thai;
  if (thai) beDatePicker(asOf);
  $("as-of-shown").textContent = date(asOf, true);
  liveText();
}

function beDatePicker(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  const thisYear = Number(todayInThailand().slice(0, 4));
  const options = (values, label, chosen) => values.map((v) =>
    `<option value="${v}"${v === chosen ? " selected" : ""}>${escapeHtml(label(v))}</option>`).join("");
  const monthName = (month) => new Intl.DateTimeFormat("th-TH", { month: "long" }).format(new Date(2000, month - 1, 1));
  const years = [];
  for (let year = thisYear; year >= Math.min(y, thisYear - 30); year -= 1) years.push(year);
  const days = Array.from({ length: new Date(y, m, 0).getDate() }, (_, i) => i + 1);
  $("as-of-day").innerHTML = options(days, String, d);
  $("as-of-month").innerHTML = options(Array.from({ length: 12 }, (_, i) => i + 1), monthName, m);
  $("as-of-year").innerHTML = options(years, (year) => String(year + 543), y);
  $("as-of-day").setAttribute("aria-label", t("day"));
  $("as-of-month").setAttribute("aria-label", t("month"));
  $("as-of-year").setAttribute("aria-label", t("year"));
}
function beDatePicked() {
  const y = Number($("as-of-year").value), m = Number($("as-of-month").value);
  const d = Math.min(Number($("as-of-day").value), new Date(y, m, 0).getDate());  // 31 → 30 in a short month
  const iso = `${y}-${String(m).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
  state.asOf = iso !== todayInThailand() ? iso : null;
  load();
}

function liveText() {
  const on = $("live").classList.contains("on");
  $("live-text").textContent = on ? `${t("live_on")} · ${count(state.liveEvents)} ${t("live_events")}` : t("live_off");
}

const DEPTH = { national: 0, province: 1, district: 2, group: 3 };
// The deepest level the caller's area fixes: an officer opens their area and what lies below it, nothing above.
function homeDepth() {
  const me = state.me || {};
  return me.group_id ? DEPTH.group : me.district_code ? DEPTH.district : me.province_code ? DEPTH.province : DEPTH.national;
}
// The caller's own area: where an officer lands, and the way back from a page refused to them.
function homeHash() {
  const me = state.me || {};
  if (me.group_id) return hashFor("group", me.group_id);
  if (me.district_code) return hashFor("district", me.district_code);
  if (me.province_code) return hashFor("province", me.province_code);
  return hashFor("national", null);
}
function renderTrail(trail) {
  $("trail").innerHTML = trail.map((step, i) => (i === trail.length - 1 || DEPTH[step.level] < homeDepth()
    ? `<strong>${escapeHtml(name(step))}</strong>`
    : `<a href="${hashFor(step.level, step.code)}">${escapeHtml(name(step))}</a>`)).join('<span class="sep">›</span>');
}

function renderKpis(stats) {
  $("kpis").innerHTML = STATS.filter((k) => !(state.level === "group" && k === "groups")).map((k) =>
    `<div class="kpi" data-stat="${k}"><div class="label">${t(k)}</div><div class="value">${shown(k, stats[k])}</div></div>`).join("");
}

function renderSeries(series) {
  draw("chart-savings", {
    type: "line",
    data: {
      labels: series.points.map((p) => date(p.date)),
      datasets: [
        { label: t("sajja_savings"), data: series.points.map((p) => plotted(p.sajja_savings)), borderColor: "#0b6e4f", backgroundColor: "rgba(11,110,79,.15)", fill: true, tension: .25 },
        { label: t("special_savings"), data: series.points.map((p) => plotted(p.special_savings)), borderColor: "#2e90fa", tension: .25 },
        { label: t("loans_outstanding"), data: series.points.map((p) => plotted(p.loans_outstanding)), borderColor: "#b54708", tension: .25 },
      ],
    },
    options: { animation: false, interaction: { mode: "index", intersect: false }, scales: { y: { beginAtZero: true } } },
  });
}

function renderPortfolio(portfolio) {
  $("par30").textContent = `${portfolio.par30_percent}% (${money(portfolio.par30)} ${state.lang === "th" ? "บาท" : "THB"})`;
  const names = Object.keys(portfolio.buckets);
  draw("chart-portfolio", {
    type: "bar",
    data: {
      labels: names.map((b) => (b === "current" ? t("bucket_current") : t("bucket_days", { b }))),
      datasets: [{
        label: t("outstanding"),
        data: names.map((b) => plotted(portfolio.buckets[b].outstanding)),
        backgroundColor: ["#0b6e4f", "#fdb022", "#f79009", "#dc6803", "#b42318"],
      }],
    },
    options: { animation: false, plugins: { legend: { display: false },
      tooltip: { callbacks: { afterLabel: (ctx) => `${count(portfolio.buckets[names[ctx.dataIndex]].loans)} loans` } } } },
  });
}

function renderChildren(breakdown, quality, levels) {
  const child = breakdown.child_level;
  $("children-title").textContent = t(`children_${child}`);
  const params = new URLSearchParams({ level: state.level, ...(state.code ? { code: state.code } : {}), ...(state.asOf ? { as_of: state.asOf } : {}) });
  $("export-csv").href = `/reporting/v1/stats/breakdown?${params}&format=csv`;
  $("export-xlsx").href = `/reporting/v1/stats/breakdown?${params}&format=xlsx`;
  const columns = ["groups", "members", "savings", "borrowers", "loans_outstanding"].filter((k) => !(child === "group" && k === "groups"));
  // PAR30 of each child area, from lending's portfolio of the same areas (none: no loans there).
  const par30 = Object.fromEntries(((quality && quality.items) || []).map((q) => [q.code, q.par30_percent]));
  // A district's groups: each one's SMART level too (from reporting's grading of the district's groups).
  const level = levels ? Object.fromEntries(levels.items.map((g) => [g.group_id, g.level])) : null;
  table($("children"), [[t("name")], ...columns.map((k) => [t(k), true]), [t("par30_percent"), true],
    ...(level ? [[t("smart_col"), true]] : [])],
    breakdown.items.map((item) => ({
      href: hashFor(child, item.code),
      cells: [[name(item) || item.code], ...columns.map((k) => [shown(k, item[k]), true]),
        [par30[item.code] !== undefined ? `${par30[item.code]}%` : "–", true],
        ...(level ? [[level[item.code] !== undefined ? String(level[item.code]) : "–", true, "smart-level"]] : [])],
    })));
}

// --- The month's collection sheet (บันทึกการรับเงินประจำเดือน) ---------------------------------------------
// Each filled line is the ordinary deposit command, sent with the key the sheet gives it: sending the sheet again
// (a double click, a retry, a dropped connection) returns the first answers and posts nothing twice.
const AMOUNT = /^[0-9]{1,9}(\.[0-9]{1,2})?$/;
function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("sajja_csrf="));
  return found ? decodeURIComponent(found.split("=")[1]) : "";
}
async function postJSON(path, body, key) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": key, "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
  });
}
function monthChoices(chosen) {
  const today = todayInThailand();
  let [y, m] = today.split("-").map(Number);
  const months = [];
  for (let i = 0; i < 13; i += 1) {
    months.push(`${y}-${String(m).padStart(2, "0")}`);
    m -= 1; if (m === 0) { m = 12; y -= 1; }
  }
  if (chosen && !months.includes(chosen)) months.push(chosen);
  const label = (ym) => new Intl.DateTimeFormat(state.lang === "th" ? "th-TH-u-ca-buddhist-nu-latn" : "en-GB",
    { month: "long", year: "numeric" }).format(localDate(`${ym}-01`));
  return months.map((ym) => `<option value="${ym}"${ym === chosen ? " selected" : ""}>${escapeHtml(label(ym))}</option>`).join("");
}
async function loadCollection() {
  const id = state.code;
  const asked = { month: state.collectionMonth, round: state.collectionRound || 1 };
  const sheet = await getJSON(`/ledger/v1/groups/${encodeURIComponent(id)}/collection-sheet`, asked);
  // The loans' installments due by the day collected: each repayment goes in as lending's ordinary command.
  const dues = await getJSON(`/lending/v1/groups/${encodeURIComponent(id)}/installments-due`,
    { month: sheet.month, round: sheet.round, on: sheet.collected_on }).catch((error) => {
    // Lending places a group by its members: one it has not seen yet (403/404 here) has no loans there.
    if (error instanceof LoadFailed && [403, 404].includes(error.status)) return { loans: [] };
    throw error;
  });
  state.sheet = sheet;
  state.loansOf = {};
  for (const loan of dues.loans) (state.loansOf[loan.member_id] ||= []).push(loan);
  $("collection-title").textContent = t("collection_title", { g: sheet.group_name });
  $("collection-back").href = hashFor("group", id);
  $("collection-back").textContent = t("collection_back");
  $("collection-month").innerHTML = monthChoices(sheet.month);
  $("collection-round").innerHTML = Array.from({ length: 5 }, (_, i) => i + 1)
    .map((r) => `<option value="${r}"${r === sheet.round ? " selected" : ""}>${r}</option>`).join("");
  $("collection-date").textContent = sheet.collected_on ? t("collection_date", { d: date(sheet.collected_on, true) }) : "";
  const papers = `/ledger/v1/groups/${encodeURIComponent(id)}/collection-sheet`;
  $("collection-papers").innerHTML = [["report", t("collection_report")], ["receipts", t("collection_receipts")]]
    .map(([kind, text]) => `<a href="${papers}/${kind}?month=${sheet.month}" data-paper="${kind}">${escapeHtml(text)}</a>`).join(" · ");
  const open = !sheet.closed && Boolean(sheet.collected_on);
  $("collection-state").textContent = sheet.closed ? t("collection_closed")
    : !sheet.collected_on ? t("collection_future") : sheet.month_ended ? t("collection_ended") : "";
  $("collection-submit").disabled = !open;
  $("collection-close").hidden = !(sheet.month_ended && !sheet.closed);
  const input = (line, account, value) => open
    ? `<input class="amount" inputmode="decimal" autocomplete="off" data-member="${escapeHtml(line.member_id)}" data-account="${account}"
         aria-label="${escapeHtml(`${line.full_name || line.member_id} ${t(`${account}_in`)}`)}" value="${escapeHtml(value === "0.00" ? "" : value)}">`
    : "";
  const table = $("collection");
  table.querySelector("thead").innerHTML = `<tr><th>${t("member")}</th><th class="num">${t("commitment")}</th>`
    + `<th class="num">${t("paid_so_far")}</th><th>${t("sajja_in")}</th><th>${t("special_in")}</th>`
    + `<th>${t("repayment_in")}</th><th>${t("result")}</th></tr>`;
  // Each cell carries its heading (data-label): on a phone a member's line is a small card of labelled boxes.
  const label = (key) => `data-label="${escapeHtml(t(key))}"`;
  table.querySelector("tbody").innerHTML = sheet.lines.map((line) => `<tr data-member="${escapeHtml(line.member_id)}">`
    + `<td class="who">${escapeHtml(line.full_name || "—")}</td><td class="num" ${label("commitment")}>${escapeHtml(money(line.commitment))}</td>`
    + `<td class="num" ${label("paid_so_far")}>${escapeHtml(money(line.sajja_paid) + (line.special_paid !== "0.00" ? ` + ${money(line.special_paid)}` : ""))}</td>`
    + `<td ${label("sajja_in")}>${input(line, "sajja", line.sajja_to_pay)}</td><td ${label("special_in")}>${input(line, "special", "")}</td>`
    + `<td class="loans">${(state.loansOf[line.member_id] || []).map((loan) => repaymentInput(line, loan, open)).join("")}</td>`
    + `<td class="result" data-result="${escapeHtml(line.member_id)}"></td></tr>`).join("");
  table.querySelector("tfoot").innerHTML = `<tr><td class="total who">${t("total")}</td><td class="num total" ${label("commitment")}>${escapeHtml(money(sheet.totals.commitment))}</td>`
    + `<td class="num total" ${label("paid_so_far")}>${escapeHtml(money(sheet.totals.sajja_paid) + (sheet.totals.special_paid !== "0.00" ? ` + ${money(sheet.totals.special_paid)}` : ""))}</td></tr>`;
  // Keyboard first: Enter moves to the next amount, as down a paper sheet.
  const inputs = [...table.querySelectorAll("input.amount")];
  // What the sheet will record, as it is typed: checked against the cash counted before it is sent.
  const tally = () => {
    const filled = inputs.map((el) => el.value.trim().replace(/,/g, "")).filter((v) => v && Number(v) > 0 && AMOUNT.test(v));
    const satang = filled.reduce((sum, v) => sum + Math.round(Number(v) * 100), 0);
    state.sheetTally = { lines: filled.length, baht: (satang / 100).toFixed(2) };
    $("collection-total").textContent = t("collection_total", { n: count(filled.length), b: money(state.sheetTally.baht) });
  };
  inputs.forEach((el) => el.addEventListener("input", tally));
  tally();
  inputs.forEach((el, i) => el.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); (inputs[i + 1] || $("collection-submit")).focus(); }
  }));
}
function repaymentInput(line, loan, open) {
  const late = loan.days_past_due > 0 ? t("loan_late", { n: count(loan.days_past_due) }) : "";
  const box = open
    ? `<input class="amount" inputmode="decimal" autocomplete="off" data-member="${escapeHtml(line.member_id)}" data-account="repayment"
         data-loan="${escapeHtml(loan.loan_id)}" aria-label="${escapeHtml(`${line.full_name || line.member_id} ${t("repayment_in")}`)}"
         value="${escapeHtml(loan.due === "0.00" ? "" : loan.due)}">`
    : "";
  return `<label class="loan">${escapeHtml(t("repayment_in"))}${box}<small>${escapeHtml(t("loan_due", { d: money(loan.due) }) + late)}</small></label>`;
}
function lineReason(status, problem) {
  const type = (problem && problem.type) || "";
  if (status === 403) return t("line_forbidden");
  if (type.endsWith(":idempotency-key-reused")) return t("line_again");
  if (status === 409 && /closed/.test((problem && problem.detail) || "")) return t("line_closed");
  if (status === 409 || status === 422) return t("line_rule");
  return t("line_failed");
}
async function submitCollection() {
  const sheet = state.sheet;
  const tally = state.sheetTally || { lines: 0, baht: "0.00" };
  // Prefilled boxes are what is due, not what was paid: the committee confirms the total it counted.
  if (!window.confirm(t("collection_confirm", { n: count(tally.lines), b: money(tally.baht) }))) return;
  const button = $("collection-submit");
  button.disabled = true;
  const work = [];
  for (const el of $("collection").querySelectorAll("input.amount")) {
    const amount = el.value.trim().replace(/,/g, "");
    if (!amount || Number(amount) === 0) continue;
    const line = sheet.lines.find((l) => l.member_id === el.dataset.member);
    const loan = el.dataset.loan ? (state.loansOf[line.member_id] || []).find((l) => l.loan_id === el.dataset.loan) : null;
    work.push({ el, line, loan, account: el.dataset.account, amount });
  }
  const cell = (member) => $("collection").querySelector(`[data-result="${member}"]`);
  for (const item of work) cell(item.line.member_id).textContent = "";
  let ok = 0, bad = 0, done = 0;
  const say = (item, text, good) => {
    const c = cell(item.line.member_id);
    c.insertAdjacentHTML("beforeend", `<div class="${good ? "ok" : "refused"}" data-account="${item.account}">${escapeHtml(`${t(`${item.account}_in`)}: ${text}`)}</div>`);
    if (good) ok += 1; else bad += 1;
  };
  const next = async () => {
    while (work.length) {
      const item = work.shift();
      done += 1;
      $("collection-progress").textContent = t("posting", { n: done, of: done + work.length });
      if (!AMOUNT.test(item.amount)) { say(item, t("line_bad_amount"), false); continue; }
      const [path, body, key] = item.loan
        ? [`/lending/v1/loans/${item.loan.loan_id}/repayments`, { amount: item.amount, paid_on: sheet.collected_on }, item.loan.key]
        : [`/ledger/v1/members/${item.line.member_id}/deposits`,
          { account: item.account, amount: item.amount, deposited_on: sheet.collected_on }, item.line.keys[item.account]];
      let answer;
      for (let attempt = 0; attempt < 5; attempt += 1) {
        try {
          answer = await postJSON(path, body, key);
        } catch (_) { answer = null; }
        if (answer && answer.status !== 429 && answer.status < 500) break;
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));  // the same key: a retry posts nothing twice
      }
      if (answer && answer.ok) { say(item, t("line_ok"), true); continue; }
      let problem = null;
      try { problem = answer ? await answer.json() : null; } catch (_) { /* not JSON */ }
      say(item, lineReason(answer ? answer.status : 0, problem), false);
    }
  };
  await Promise.all([next(), next(), next()]);
  $("collection-progress").textContent = t("posted_all", { ok: count(ok), bad: count(bad) });
  const results = [...$("collection").querySelectorAll("td.result")].map((c) => [c.dataset.result, c.innerHTML]);
  await loadCollection();  // what each member has paid now; the lines' results stay in view
  for (const [member, html] of results) { const c = cell(member); if (c) c.innerHTML = html; }
  document.body.dataset.posted = String(Number(document.body.dataset.posted || 0) + 1);
}
async function closeCollectionMonth() {
  const sheet = state.sheet;
  const answer = await postJSON(`/ledger/v1/groups/${encodeURIComponent(sheet.group_id)}/month-closes`,
    { month: sheet.month }, `collection-close:${sheet.group_id}:${sheet.month}`);
  let body = null;
  try { body = await answer.json(); } catch (_) { /* not JSON */ }
  $("collection-progress").textContent = answer.ok
    ? t("month_closed_now", { n: count(body.members_missed) }) : lineReason(answer.status, body);
  await loadCollection();
}

// --- A group's members: balances, installments missed, loans and their schedules -------------------------------
async function loadMembers(groupId, asOf) {
  const [members, dues] = await Promise.all([
    getJSON(`/ledger/v1/groups/${encodeURIComponent(groupId)}/member-balances`),
    getJSON(`/lending/v1/groups/${encodeURIComponent(groupId)}/installments-due`, { on: asOf }).catch((error) => {
      if (error instanceof LoadFailed && [403, 404].includes(error.status)) return { loans: [] };
      throw error;
    }),
  ]);
  // Every active loan of a member (a member may hold two), none paid out after the page's date.
  const loansOf = {};
  for (const loan of dues.loans.filter((l) => !l.disbursed_on || l.disbursed_on <= asOf)) (loansOf[loan.member_id] ||= []).push(loan);
  $("members-count").textContent = ` · ${count(members.items.filter((m) => !m.exited_on).length)}`;
  $("loan-schedule").hidden = true;
  table($("members"), [[t("name")], [t("joined")], [t("commitment"), true], [t("sajja_savings"), true],
    [t("special_savings"), true], [t("missed"), true], [t("loan_outstanding"), true], [t("days_late"), true]],
  members.items.map((m) => {
    const loans = loansOf[m.member_id] || [];
    const owed = loans.reduce((sum, l) => sum + Math.round(Number(l.outstanding_principal) * 100), 0);
    const late = loans.reduce((most, l) => Math.max(most, l.days_past_due), 0);
    const who = (m.full_name || "—") + (m.exited_on ? ` (${t("exited", { d: date(m.exited_on) })})` : "");
    const total = money((owed / 100).toFixed(2));
    // Two loans or more: their total, and each loan's own outstanding beneath it.
    const outstanding = loans.length > 1
      ? new Markup(`${escapeHtml(total)}<small class="loan-each">${loans.map((l) => escapeHtml(money(l.outstanding_principal))).join(" + ")}</small>`, total)
      : loans.length ? total : "–";
    return {
      data: loans.length ? { loans: loans.map((l) => l.loan_id).join(" "), count: String(loans.length) } : {},
      cells: [[who], [date(m.joined_on)], [money(m.monthly_commitment), true], [money(m.sajja), true],
        [money(m.special), true], [count(m.installments_missed), true],
        [outstanding, true], [loans.length ? count(late) : "–", true, late > 30 ? "late" : ""]],
    };
  }));
}
// A member with loans: a click on the row shows each loan's schedule below (one listener: rows are redrawn when sorted).
async function showSchedule(loanIds, name) {
  const on = state.asOf || todayInThailand();
  const loans = await Promise.all(loanIds.map((id) => getJSON(`/lending/v1/loans/${encodeURIComponent(id)}`, { on })));
  $("loan-schedule-title").textContent = t("schedule_title", { n: name });
  $("schedules").innerHTML = loans.map((loan, i) => `<div class="loan-block" data-loan="${escapeHtml(loan.loan_id)}">`
    + `<h4>${escapeHtml(t("loan_heading", { i: i + 1, of: loans.length, d: date(loan.disbursed_on), p: money(loan.principal),
      o: money(loan.outstanding_principal) }) + (loan.days_past_due ? t("loan_late", { n: count(loan.days_past_due) }) : ""))}</h4>`
    + `<div class="table-wrap"><table id="schedule-${i + 1}" class="schedule"><thead></thead><tbody></tbody></table></div></div>`).join("");
  loans.forEach((loan, i) => {
    table($(`schedule-${i + 1}`), [[t("installment_no"), true], [t("due_on")], [t("principal"), true], [t("interest"), true], [t("status")]],
      loan.schedule.map((x) => ({
        cells: [[String(x.number), true], [date(x.due_on)], [money(x.principal), true], [money(x.interest), true],
          [t(`status_${x.status}`) || x.status, false, `installment-${x.status}`]],
      })));
  });
  $("loan-schedule").hidden = false;
}

// --- A group's statements: the balance sheet on the page's date, the income statement of its year to that date ------
// A statement reads top to bottom as a committee prints it (sections, their accounts, their totals): never sorted.
function statement(el, rows) {
  el.querySelector("thead").innerHTML = `<tr><th>${escapeHtml(t("account"))}</th><th class="num">${escapeHtml(t("amount"))}</th></tr>`;
  el.querySelector("tbody").innerHTML = rows.map(([label, amount, cls, key]) =>
    `<tr class="${cls || ""}"${key ? ` data-line="${escapeHtml(key)}"` : ""}><td>${escapeHtml(label)}</td>`
    + `<td class="num">${amount === null ? "" : escapeHtml(money(amount))}</td></tr>`).join("");
}
function accountLines(lines) {
  // A section with no account says so, rather than a heading over its total.
  if (!lines.length) return [[t("no_entries"), null, "empty"]];
  return lines.map((l) => [`${l.code} ${state.lang === "th" ? l.name_th : l.name_en || l.name_th}`, l.amount, "", l.code]);
}
async function loadStatements(groupId, asOf) {
  const from = `${asOf.slice(0, 4)}-01-01`;  // the group's business year is the calendar year (the ledger's default)
  const path = (what) => `/ledger/v1/groups/${encodeURIComponent(groupId)}/${what}`;
  const [sheet, income] = await Promise.all([
    getJSON(path("balance-sheet"), { as_of: asOf }),
    getJSON(path("income-statement"), { from, to: asOf }),
  ]);
  $("balance-sheet-when").textContent = t("statement_as_of", { d: date(sheet.as_of) });
  statement($("balance-sheet"), [
    [t("assets"), null, "section"], ...accountLines(sheet.assets),
    [t("total_assets"), sheet.total_assets, "grand", "total_assets"],
    [t("liabilities"), null, "section"], ...accountLines(sheet.liabilities),
    [t("total_liabilities"), sheet.total_liabilities, "subtotal"],
    [t("equity"), null, "section"], ...(sheet.equity.length ? accountLines(sheet.equity) : []),
    [t("unallocated_profit"), sheet.unallocated_profit, "", "unallocated_profit"],
    [t("total_equity"), sheet.total_equity, "subtotal", "total_equity"],
    [t("total_claims") + (sheet.balanced ? "" : ` (${t("not_balanced")})`), sheet.total_liabilities_and_equity,
      sheet.balanced ? "grand" : "grand unbalanced", "total_claims"],
  ]);
  $("income-statement-when").textContent = t("statement_period", { from: date(income.from), to: date(income.to) });
  statement($("income-statement"), [
    [t("income"), null, "section"], ...accountLines(income.income),
    [t("total_income"), income.total_income, "subtotal", "total_income"],
    [t("expenses"), null, "section"], ...accountLines(income.expenses),
    [t("total_expenses"), income.total_expenses, "subtotal", "total_expenses"],
    [t("net_profit"), income.net_profit, income.net_profit.startsWith("-") ? "grand loss" : "grand", "net_profit"],
  ]);
  exportLinks("x-balance-sheet", path("balance-sheet"), { as_of: asOf });
  exportLinks("x-income-statement", path("income-statement"), { from, to: asOf });
}

// Every table as a file, and every report as a PDF: links built from the same query the page read.
function exportLinks(id, path, params, formats = ["csv", "xlsx"], labels = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined));
  $(id).innerHTML = formats.map((f) => {
    const q = new URLSearchParams(query); q.set("format", f);
    return `<a href="${path}?${q}" data-format="${f}">${escapeHtml(labels[f] || f.toUpperCase())}</a>`;
  }).join(" · ");
}

function renderWorklist(worklist) {
  $("worklist-count").textContent = t("worklist_count", { n: count(worklist.behind), of: count(worklist.groups) });
  table($("worklist"), [[t("name")], [t("last_closed")], [t("months_behind"), true]],
    worklist.items.map((item) => ({
      href: hashFor("group", item.group_id),
      cells: [[item.name], [item.last_closed ? date(`${item.last_closed}-01`).replace(/^\d+ /, "") : t("never_closed")],
        [item.months_behind === null ? "–" : count(item.months_behind), true]],
    })));
}

// The area's loans in arrears, worst first (a page at a time: "show more" reads the next), and the applications
// waiting for a checker, shown to those who may approve (lending:approve) without the ones they entered.
const may = (scope) => Boolean(state.me && (state.me.scopes || []).includes(scope));
let overdue = { items: [], next: null };
function renderOverdue(page, append) {
  overdue = { items: append ? [...overdue.items, ...page.items] : page.items, next: page.next };
  if (!append) {
    $("overdue-count").textContent = t("overdue_count", { n: count(page.loans_in_arrears), b: money(page.outstanding_in_arrears) });
  }
  $("overdue-more").hidden = !overdue.next;
  $("overdue-none").hidden = overdue.items.length > 0;
  // The member above their group in one cell (a line break the cell keeps), so a phone shows who at a glance.
  table($("overdue"), [[t("member_group")], [t("days_late"), true], [t("overdue_amount"), true], [t("loan_outstanding"), true],
    [t("loan_kind")]],
  overdue.items.map((l) => ({
    href: hashFor("group", l.group_id),
    data: { loan: l.loan_id },
    cells: [[`${l.full_name || (l.name_erased ? t("name_erased") : "—")}\n${l.group_name || l.group_id}`, false, "who"],
      [count(l.days_past_due), true, l.days_past_due > 30 ? "late" : ""], [money(l.overdue), true],
      [money(l.outstanding_principal), true], [state.lang === "th" ? l.kind_th : l.kind_en || l.kind_th, false, "kind"]],
  })));
}
async function moreOverdue() {
  if (!overdue.next) return;
  $("overdue-more").disabled = true;
  try {
    const url = new URL(overdue.next, location.origin);
    renderOverdue(await getJSON(url.pathname, Object.fromEntries(url.searchParams)), true);
  } catch (error) {
    if (error instanceof SignedOut) showSignIn();
  } finally {
    $("overdue-more").disabled = false;
  }
}
function renderApprovals(waiting) {
  $("approvals-card").hidden = !waiting;
  if (!waiting) return;
  $("approvals-count").textContent = t("approvals_count", { n: count(waiting.for_you) });
  $("approvals-none").hidden = waiting.items.length > 0;
  table($("approvals"), [[t("member_group")], [t("principal"), true], [t("applied_by")], [t("approvals_done"), true]],
    waiting.items.map((a) => ({
      href: hashFor("group", a.group_id),
      data: { loan: a.loan_id },
      cells: [[`${a.full_name || "—"}\n${a.group_name || a.group_id}`, false, "who"], [money(a.principal), true],
        [`${date(a.applied_on)}\n${a.entered_by}`, false, "who"], [`${count(a.approvals)}/${count(a.approvals_required)}`, true]],
    })));
}
async function loadFollowUps(where, asOf) {
  // Refused (an area lending does not know yet) is nothing to follow up, not a page that failed; nor does a
  // worklist that cannot be read right now (503: the member register is away) fail the area's figures.
  const none = (error) => {
    if (error instanceof LoadFailed && [403, 404, 503].includes(error.status)) return null;
    throw error;
  };
  const [page, waiting] = await Promise.all([
    getJSON("/lending/v1/worklists/overdue-loans", { ...where, on: asOf }).catch(none),
    may("lending:approve") ? getJSON("/lending/v1/worklists/approvals", where).catch(none) : null,
  ]);
  // A group's page has its members' loans already: the panel shows there only when something waits.
  const empty = !(page && page.items.length) && !(waiting && waiting.items.length);
  $("follow-up-panel").hidden = !page || (state.level === "group" && empty);
  if (!page) return;
  renderOverdue(page, false);
  renderApprovals(waiting);
  exportLinks("x-overdue", "/lending/v1/worklists/overdue-loans", { ...where, on: asOf });
}

// How fresh the figures are: when the statistics last took events, and how late after they happened.
async function showFreshness() {
  try {
    const f = await getJSON("/reporting/v1/freshness");
    const at = f.last_applied_at
      ? new Intl.DateTimeFormat(state.lang === "th" ? "th-TH" : "en-GB", { timeStyle: "medium", timeZone: "Asia/Bangkok" })
        .format(new Date(f.last_applied_at)) : null;
    $("freshness").textContent = (at ? t("fresh", { at, d: f.delay_seconds ?? 0 }) : t("fresh_none"))
      + (f.waiting_streams ? t("fresh_waiting", { n: count(f.waiting_streams) }) : "");
  } catch (_) {
    $("freshness").textContent = "";  // the figures themselves said what failed
  }
}

// A national ID as it is printed on the card (1-2345-67890-12-3); a masked one comes printed so already.
const idShown = (id) => (/^[0-9]{13}$/.test(id) ? id.replace(/^(.)(.{4})(.{5})(..)(.)$/, "$1-$2-$3-$4-$5") : id);
async function searchGroups(event) {
  event.preventDefault();
  const q = $("search").value.trim();
  if (q.length < 2) return;
  const where = state.level === "group" ? { level: "district", code: groupDistrict } : area();
  // Members are the ledger's register: searched within the caller's own area (a committee its group).
  const me = state.me || {};
  const own = me.role === "committee" ? { level: "group", code: me.group_id }
    : me.role === "district_officer" ? { level: "district", code: me.district_code }
      : me.role === "province_officer" ? { level: "province", code: me.province_code } : area();
  try {
    const [found, members] = await Promise.all([
      /^[0-9 -]{13,17}$/.test(q) ? { items: [] } : getJSON("/reporting/v1/search", { q, ...where }).catch(() => ({ items: [] })),
      may("ledger:read") ? getJSON("/ledger/v1/members/search", { q, ...own }) : { items: [] },
    ]);
    const groups = found.items.map((g) => `<li data-kind="group"><a href="${hashFor("group", g.group_id)}">${escapeHtml(g.name)}</a></li>`);
    const people = members.items.map((m) => `<li data-kind="member" data-member="${escapeHtml(m.member_id)}">`
      + `<a href="${hashFor("group", m.group_id)}">${escapeHtml(m.full_name)}</a>`
      + `<span class="sub">${escapeHtml(m.group_name || "")}${m.national_id ? ` · <span class="nid">${escapeHtml(idShown(m.national_id))}</span>` : ""}</span></li>`);
    const heading = (key) => `<li class="heading">${escapeHtml(t(key))}</li>`;
    // Headed by kind when both kinds were found.
    const both = groups.length && people.length;
    $("search-results").innerHTML = groups.length || people.length
      ? [...(both ? [heading("search_groups")] : []), ...groups, ...(both ? [heading("search_members")] : []), ...people].join("")
      : `<li class="muted">${t("search_none")}</li>`;
  } catch (error) {
    if (error instanceof SignedOut) { showSignIn(); return; }
    $("search-results").innerHTML = `<li class="error">${escapeHtml(failure(error))}</li>`;
  }
}

function renderPipeline(pipeline) {
  draw("chart-referrals", {
    type: "bar",
    data: {
      labels: PIPELINE.map((k) => t(k)),
      datasets: [{ data: PIPELINE.map((k) => pipeline[k]), backgroundColor: ["#0b6e4f", "#2e90fa", "#12b76a", "#039855", "#f79009", "#b42318"] }],
    },
    options: { animation: false, indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

function pickCampaign() {
  const asOf = state.asOf || todayInThailand();
  const started = state.campaigns.filter((c) => c.starts_on <= asOf).sort((a, b) => (a.starts_on < b.starts_on ? 1 : -1));
  if (!state.campaigns.find((c) => c.campaign_id === state.campaignId)) {
    state.campaignId = (started[0] || state.campaigns[0] || {}).campaign_id || null;
  }
  $("campaign").innerHTML = state.campaigns.map((c) =>
    `<option value="${escapeHtml(c.campaign_id)}"${c.campaign_id === state.campaignId ? " selected" : ""}>${escapeHtml(name(c))}</option>`).join("");
}

async function loadCampaign(asOf) {
  if (!state.campaignId) {
    $("campaign-window").textContent = t("no_campaign");
    return;
  }
  const campaign = state.campaigns.find((c) => c.campaign_id === state.campaignId);
  $("campaign-window").textContent = t("campaign_window", { from: date(campaign.starts_on, true), to: date(campaign.ends_on, true) });
  // Campaign counters go down to districts; a group's page shows its district's.
  const where = state.level === "group" ? { level: "district", code: groupDistrict } : area();
  const counted = trailSteps.find((s) => s.level === where.level) || trailSteps[0];
  $("campaign-area").textContent = counted
    ? t(`campaign_area_${counted.level}`, { a: name(counted) }) + (state.level === "group" ? t("campaign_area_group") : "") : "";
  const board = state.level === "national" ? { level: "province" } : { level: "district", province: provinceOf() };
  const base = `/campaign/v1/campaigns/${encodeURIComponent(state.campaignId)}`;
  exportLinks("x-reports", `${base}/reports`, { ...board, as_of: asOf });
  // The area's savings-promotion report as its form (PDF, XLSX), and the counters of its child areas.
  if (where.level === "national") {
    exportLinks("x-campaign", `${base}/progress/breakdown`, { ...where, as_of: asOf }, ["xlsx"], { xlsx: t("campaign_breakdown") });
  } else {
    const report = `${base}/reports/${where.level}/${encodeURIComponent(where.code)}/export`;
    $("x-campaign").innerHTML = [["pdf", t("campaign_report_pdf")], ["xlsx", t("campaign_report_xlsx")]]
      .map(([f, label]) => `<a href="${report}?format=${f}" data-format="${f}">${escapeHtml(label)}</a>`).join(" · ");
  }
  const [progress, series, reports, own] = await Promise.all([
    getJSON(`${base}/progress`, { ...where, as_of: asOf }),
    getJSON(`${base}/progress/series`, { ...where, as_of: asOf }),
    getJSON(`${base}/reports`, { ...board, as_of: asOf }),
    // A province's page: the province's own report too, below its districts' (it consolidates them).
    state.level === "province" ? getJSON(`${base}/reports`, { level: "province", province: state.code, as_of: asOf }) : null,
  ]);
  // Each counter with its target where the campaign set one for this area (the share is for the eye only).
  const targets = progress.targets || {};
  $("campaign-counters").innerHTML = Object.entries(progress.counters).map(([k, v]) => {
    const target = targets[k];
    const share = target && Number(target) > 0 ? ` (${Math.floor((Number(v) / Number(target)) * 100)}%)` : "";
    const goal = target !== undefined ? `<small data-target="${k}">${t("target")} ${shown(k, target)}${share}</small>` : "";
    return `<div data-counter="${k}">${escapeHtml(T[state.lang].counters[k] || k)}<b>${shown(k, v)}</b>${goal}</div>`;
  }).join("");
  const points = series.points;
  draw("chart-campaign", {
    type: "line",
    data: {
      labels: points.map((p) => date(p.date)),
      datasets: [
        { label: T[state.lang].counters.members_taking_part, data: points.map((p) => p.counters.members_taking_part), borderColor: "#0b6e4f", yAxisID: "y", tension: .2 },
        { label: T[state.lang].counters.new_members, data: points.map((p) => p.counters.new_members), borderColor: "#2e90fa", yAxisID: "y", tension: .2 },
        { label: T[state.lang].counters.savings_added, data: points.map((p) => plotted(p.counters.savings_added)), borderColor: "#b54708", yAxisID: "y1", tension: .2 },
      ],
    },
    options: { animation: false, interaction: { mode: "index", intersect: false },
      scales: { y: { beginAtZero: true, position: "left", ticks: { precision: 0 } }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } },
  });
  $("reports-deadline").textContent = reports.deadline ? t("deadline", { d: date(reports.deadline, true) }) : "";
  const tally = {};
  for (const item of reports.items) tally[item.state] = (tally[item.state] || 0) + 1;
  $("reports-tally").innerHTML = ["submitted", "late", "due", "overdue"].filter((s) => tally[s])
    .map((s) => `<span class="state-${s}" data-state="${s}">${t(`state_${s}`)} ${count(tally[s])}</span>`).join("");
  renderBoard(base, reports, own);
}

// The reports board: each area's state, and what the caller may do from it — submit the area's report (the
// server says where: their own area, not yet submitted) and download it as the form (PDF) or a spreadsheet (XLSX).
function renderBoard(base, reports, own) {
  const rows = [...reports.items.map((item) => [reports.level, item, false]),
    ...(own ? own.items.map((item) => ["province", item, true]) : [])];
  const acts = rows.some(([, item]) => item.can_submit || item.can_export);
  const areaName = (item) => (state.lang === "th" ? item.name_th : item.name_en || item.name_th);
  const actions = (level, item) => {
    const html = [];
    if (item.can_submit) {
      html.push(`<button type="button" class="submit-report" data-level="${escapeHtml(level)}" data-code="${escapeHtml(item.code)}"`
        + ` data-name="${escapeHtml(t(`report_area_${level}`, { a: areaName(item) }))}">${escapeHtml(t("report_submit"))}</button>`);
    }
    if (item.can_export) {
      const path = `${base}/reports/${encodeURIComponent(level)}/${encodeURIComponent(item.code)}/export`;
      html.push(`<span class="files">${["pdf", "xlsx"].map((f) => `<a href="${path}?format=${f}" data-format="${f}" download>${f.toUpperCase()}</a>`).join(" · ")}</span>`);
    }
    return new Markup(html.join(" "), item.can_submit ? t("report_submit") : "");
  };
  table($("reports"), [[t("area")], [t("state")], [t("submitted_on")], ...(acts ? [[t("report_actions")]] : [])],
    rows.map(([level, item, fixed]) => ({
      href: fixed ? undefined : hashFor(level, item.code),
      fixed,
      data: { code: item.code, level },
      cells: [[fixed ? t("report_own_province", { a: areaName(item) }) : areaName(item), false, fixed ? "total" : ""],
        [t(`state_${item.state}`), false, `state-${item.state}${fixed ? " total" : ""}`], [date(item.submitted_on), false, fixed ? "total" : ""],
        ...(acts ? [[actions(level, item), false, `actions${fixed ? " total" : ""}`]] : [])],
    })));
  const notice = state.reportNotice;
  const shown = notice && notice.hash === location.hash && notice.campaignId === state.campaignId;
  $("reports-status").hidden = !shown;
  $("reports-status").textContent = shown ? notice.text : "";
  $("reports-status").className = shown && notice.ok ? "notice" : "error";
}
function reportRefusal(status, problem) {
  if (status === 403) return t("report_forbidden");
  if (status === 409) return t("report_already");
  if (status === 422) return t("report_invalid");
  return t("error_failed");
}
async function submitReport(button) {
  const { level, code, name: where } = button.dataset;
  // The report is the counters as they stand today, dated today, and cannot be withdrawn: say so, and take notes.
  const notes = window.prompt(t("report_confirm", { a: where, d: date(todayInThailand(), true) }), "");
  if (notes === null) return;
  button.disabled = true;
  const campaignId = state.campaignId;
  // A fresh key: a second click is refused by the campaign itself (an area reports once), never posted twice.
  const key = `report-${campaignId}-${level}-${code}-${Date.now()}`;
  let answer = null, body = null;
  try {
    answer = await postJSON(`/campaign/v1/campaigns/${encodeURIComponent(campaignId)}/reports`,
      { level, code, notes: notes.trim().slice(0, 4000) }, key);
    try { body = await answer.json(); } catch (_) { /* not JSON */ }
  } catch (_) { /* no answer: said below */ }
  if (answer && answer.status === 401) { showSignIn(); return; }
  const ok = Boolean(answer && answer.ok);
  state.reportNotice = {
    hash: location.hash, campaignId, ok,
    text: ok ? t(body.late ? "report_sent_late" : "report_sent", { a: where, d: date(body.submitted_on, true) })
      : `${where}: ${reportRefusal(answer ? answer.status : 0, body)}`,
  };
  await load();  // the board shows the report in (or says why not)
}
window.addEventListener("DOMContentLoaded", () => {
  // Before the row's own click (which opens the area): a button submits, a link downloads, and neither navigates.
  $("reports").addEventListener("click", (e) => {
    const hit = e.target.closest("button.submit-report, a[data-format]");
    if (!hit) return;
    e.stopPropagation();
    if (hit.matches("button")) submitReport(hit);
  }, true);
});

let groupDistrict = null;
let trailSteps = [];
function provinceOf() {
  const step = trailSteps.find((s) => s.level === "province");
  return step ? step.code : null;
}

// A criterion's bound as words: "<= 2" → "ไม่เกิน 2", ">= 80" → "อย่างน้อย 80".
function required(text) {
  const [, op, v] = /^\s*([<>]=)\s*(.*)$/.exec(text) || [];
  return op === "<=" ? t("at_most", { v }) : op === ">=" ? t("at_least", { v }) : text;
}

function renderGroup(summary, smart) {
  $("collection-link").href = `${hashFor("group", state.code)}/collection`;
  $("smart-level").textContent = String(smart.level);
  const gaps = smart.gaps_to_next_level || [];
  $("smart-gaps").innerHTML = smart.next_level
    ? gaps.map((g) => `<li data-criterion="${escapeHtml(g.name)}">${escapeHtml(t("smart_gap", {
      c: `${T[state.lang].criteria[g.name] || g.name} ${g.value} (${required(g.required)})` }))}</li>`).join("")
    : `<li>${t("smart_top")}</li>`;
  // Each balance in its debit or credit column, and the two totals, which are equal when the books balance.
  const books = summary.books;
  const shown = (amount) => (amount === "0.00" ? "" : money(amount));
  table($("books"), [[t("account")], [t("name")], [t("debit"), true], [t("credit"), true]], [
    ...books.accounts.map((a) => ({
      cells: [[a.code], [state.lang === "th" ? a.name_th : a.name_en || a.name_th], [shown(a.debit), true], [shown(a.credit), true]],
    })),
    { fixed: true, cells: [[t("total"), false, "total"], ["", false, "total"], [money(books.total_debit), true, "total"], [money(books.total_credit), true, "total"]] },
  ]);
}

let loading = null;
let again = false;
function load() {
  // One load at a time; whatever asks meanwhile (a click, a notice) gets one more pass afterwards.
  if (loading) { again = true; return loading; }
  document.body.dataset.busy = "1";
  loading = (async () => {
    do {
      again = false;
      try {
        await loadOnce();
        $("error").hidden = true;
        document.body.dataset.failed = "0";
      } catch (error) {
        if (error instanceof SignedOut) { showSignIn(); break; }
        // The figures underneath belong to the page before: hidden, not left to be read as this one's.
        document.body.dataset.failed = "1";
        $("trail").innerHTML = "";
        $("error").hidden = false;
        $("error").textContent = failure(error) + " ";
        const home = homeHash();
        if (home && home !== location.hash) {
          const back = document.createElement("a");
          back.href = home;
          back.textContent = t("go_home");
          $("error").appendChild(back);
        }
      }
      state.loads += 1;
      document.body.dataset.loads = String(state.loads);
    } while (again);
  })().finally(() => {
    loading = null;
    document.body.dataset.busy = "0";
  });
  return loading;
}

async function loadOnce() {
  const asOf = state.asOf || todayInThailand();
  staticTexts();
  const where = area();
  const places = await getJSON("/reporting/v1/places", where);
  trailSteps = places.trail;
  groupDistrict = state.level === "group" ? (trailSteps.find((s) => s.level === "district") || {}).code : null;
  renderTrail(trailSteps);
  document.body.dataset.view = state.view || "";
  $("collection-panel").hidden = state.view !== "collection";
  if (state.view === "collection") {
    await loadCollection();
    document.body.dataset.level = state.level;
    document.body.dataset.code = state.code || "";
    return;
  }
  const isGroup = state.level === "group";
  const [stats, series, portfolio, pipeline, campaigns, breakdown, summary, smart, worklist, quality, levels] = await Promise.all([
    getJSON("/reporting/v1/stats", { ...where, as_of: asOf }),
    getJSON("/reporting/v1/stats/series", { ...where, as_of: asOf, months: 12 }),
    getJSON("/lending/v1/portfolio", { ...where, on: asOf }),
    getJSON("/reporting/v1/partners/gsb/pipeline", { ...where, as_of: asOf }),
    getJSON("/campaign/v1/campaigns"),
    isGroup ? null : getJSON("/reporting/v1/stats/breakdown", { ...where, as_of: asOf }),
    isGroup ? getJSON(`/reporting/v1/groups/${encodeURIComponent(state.code)}/summary`, { as_of: asOf }) : null,
    isGroup ? getJSON(`/reporting/v1/groups/${encodeURIComponent(state.code)}/smart`, { as_of: asOf }) : null,
    isGroup ? null : getJSON("/reporting/v1/worklists/month-closes", { ...where, as_of: asOf }),
    isGroup ? null : getJSON("/lending/v1/portfolio/breakdown", { ...where, on: asOf }),
    // SMART levels grade the district's groups: a district's table only, and the table stands without them.
    state.level === "district" ? getJSON("/reporting/v1/smart/levels", { district: state.code, as_of: asOf }).catch(() => null) : null,
  ]);
  renderKpis(stats);
  renderSeries(series);
  renderPortfolio(portfolio);
  renderPipeline(pipeline);
  $("children-panel").querySelector(".card.wide").hidden = isGroup;
  if (breakdown) renderChildren(breakdown, quality, levels);
  $("worklist-panel").hidden = isGroup;
  if (worklist) renderWorklist(worklist);
  await loadFollowUps(where, asOf);
  exportLinks("x-series", "/reporting/v1/stats/series", { ...where, as_of: asOf, months: 12 });
  exportLinks("x-portfolio", "/lending/v1/portfolio", { ...where, on: asOf });
  exportLinks("x-referrals", "/reporting/v1/partners/gsb/pipeline", { ...where, as_of: asOf });
  if (!isGroup) exportLinks("x-worklist", "/reporting/v1/worklists/month-closes", { ...where, as_of: asOf });
  if (isGroup) exportLinks("x-books", `/ledger/v1/groups/${encodeURIComponent(state.code)}/trial-balance`, { as_of: asOf });
  $("x-province").innerHTML = "";
  if (state.level === "province") {
    const path = `/reporting/v1/provinces/${encodeURIComponent(state.code)}/report`;
    $("x-province").innerHTML = ` · <a href="${path}?${new URLSearchParams({ as_of: asOf })}" data-format="pdf">${escapeHtml(t("province_report"))}</a>`;
  }
  $("group-panel").hidden = !isGroup;
  $("members-panel").hidden = !isGroup;
  $("statements-panel").hidden = !isGroup;
  if (isGroup) {
    renderGroup(summary, smart);
    await Promise.all([loadMembers(state.code, asOf), loadStatements(state.code, asOf)]);
  }
  state.campaigns = campaigns.items;
  pickCampaign();
  try {
    await loadCampaign(asOf);
  } catch (error) {
    if (error instanceof SignedOut) throw error;
    $("campaign-window").textContent = failure(error);
  }
  document.body.dataset.level = state.level;
  document.body.dataset.code = state.code || "";
  await showFreshness();
}

// Signing in: the session is an HttpOnly cookie every service checks; the page never sees the token.
function showSignIn() {
  state.me = null;
  $("sign-in").hidden = false;
  $("main").hidden = true;
  $("trail").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  staticTexts();
}

function signedIn(me) {
  state.me = me;
  $("sign-in").hidden = true;
  $("main").hidden = false;
  $("trail").hidden = false;
  $("sign-out").hidden = false;
  $("sign-out").textContent = t("sign_out");
  $("who").textContent = me.subject;
  // Officers start in their own area.
  if (!location.hash && homeHash() !== hashFor("national", null)) location.hash = homeHash();
  routeFromHash();
  connectLive();
  load();
}

async function start() {
  try {
    signedIn(await getJSON("/auth/v1/me"));
  } catch (error) {
    if (error instanceof SignedOut) showSignIn();
    else throw error;
  }
}

async function signIn(event) {
  event.preventDefault();
  const response = await fetch("/auth/v1/sessions", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ username: $("username").value, password: $("password").value }),
  });
  if (response.ok) {
    $("sign-in-error").hidden = true;
    $("password").value = "";
    await start();
    return;
  }
  $("sign-in-error").hidden = false;
  const wait = response.headers.get("Retry-After") || "1";
  $("sign-in-error").textContent =
    response.status === 429 ? t("throttled", { s: wait }) : response.status === 503 ? t("busy") : t("sign_in_failed");
}

async function signOut() {
  await fetch("/auth/v1/sessions", { method: "DELETE" });
  if (window.sajjaDashboard.live) window.sajjaDashboard.live.close();
  location.hash = "";
  showSignIn();
}

let refreshTimer = null;
function connectLive() {
  if (window.sajjaDashboard.live) window.sajjaDashboard.live.close();
  const source = new EventSource("/reporting/v1/live");
  source.addEventListener("hello", () => { $("live").classList.add("on"); liveText(); });
  source.addEventListener("applied", (message) => {
    const notice = JSON.parse(message.data);
    state.liveEvents += notice.events;
    $("live").classList.add("flash");
    setTimeout(() => $("live").classList.remove("flash"), 400);
    liveText();
    // Batches arrive in bursts (and without pause while data loads): the first notice schedules one
    // refresh a few seconds later, and those arriving meanwhile ride along with it.
    if (refreshTimer === null) {
      refreshTimer = setTimeout(() => { refreshTimer = null; load(); }, 3000);
    }
  });
  source.onerror = () => { $("live").classList.remove("on"); liveText(); };
  window.sajjaDashboard.live = source;
}

window.addEventListener("DOMContentLoaded", () => {
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "th" ? "en" : "th";
    localStorage.setItem("sajja.lang", state.lang);
    if (state.me) load(); else staticTexts();
  });
  for (const id of ["as-of-day", "as-of-month", "as-of-year"]) $(id).addEventListener("change", beDatePicked);
  $("as-of").addEventListener("change", (e) => {
    state.asOf = e.target.value && e.target.value !== todayInThailand() ? e.target.value : null;
    load();
  });
  $("campaign").addEventListener("change", (e) => { state.campaignId = e.target.value; load(); });
  $("search-form").addEventListener("submit", searchGroups);
  $("overdue-more").addEventListener("click", moreOverdue);
  $("members").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-loans]");
    if (tr) showSchedule(tr.dataset.loans.split(" "), tr.cells[0].textContent).catch(() => { $("loan-schedule").hidden = true; });
  });
  $("collection-submit").addEventListener("click", submitCollection);
  $("collection-close").addEventListener("click", closeCollectionMonth);
  $("collection-month").addEventListener("change", (e) => { state.collectionMonth = e.target.value; load(); });
  $("collection-round").addEventListener("change", (e) => { state.collectionRound = Number(e.target.value); load(); });
  window.addEventListener("hashchange", () => { if (state.me) { routeFromHash(); load(); } });
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  start();
});
