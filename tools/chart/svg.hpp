#pragma once
// A minimal SVG writer for qint8-chart: rectangles, lines, circles and text in one sans-serif
// font, with a text-width estimate good enough to keep labels from overlapping.

#include <cstdio>
#include <string>

namespace qint8::chart {

class svg {
public:
    svg(int width, int height) : w_(width), h_(height) {}

    /// Width in pixels of `s` at `size` px: 0.6 em per character is generous for sans-serif digits
    /// and lower case, so layouts computed with it leave room.
    static double text_width(const std::string& s, double size) { return 0.6 * size * static_cast<double>(s.size()); }

    void rect(double x, double y, double w, double h, const std::string& fill, const std::string& extra = "") {
        body_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) + "\" height=\"" + num(h) + "\" fill=\"" + fill + "\"" +
                 (extra.empty() ? "" : " " + extra) + "/>\n";
    }
    void line(double x1, double y1, double x2, double y2, const std::string& stroke, double width = 1, bool dashed = false) {
        body_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) + "\" stroke=\"" + stroke +
                 "\" stroke-width=\"" + num(width) + "\"" + (dashed ? " stroke-dasharray=\"4,3\"" : "") + "/>\n";
    }
    void circle(double cx, double cy, double r, const std::string& fill) {
        body_ += "<circle cx=\"" + num(cx) + "\" cy=\"" + num(cy) + "\" r=\"" + num(r) + "\" fill=\"" + fill + "\" stroke=\"#222\" stroke-width=\"0.6\"/>\n";
    }
    /// `anchor`: start, middle or end. `y` is the baseline.
    void text(double x, double y, const std::string& s, double size = 12, const std::string& anchor = "start", bool bold = false,
              const std::string& fill = "#222") {
        body_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(size) + "\" text-anchor=\"" + anchor + "\" fill=\"" + fill +
                 "\"" + (bold ? " font-weight=\"bold\"" : "") + ">" + escape(s) + "</text>\n";
    }

    std::string str() const {
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(w_) + "\" height=\"" + std::to_string(h_) + "\" viewBox=\"0 0 " +
               std::to_string(w_) + " " + std::to_string(h_) + "\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n" +
               "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n" + body_ + "</svg>\n";
    }

    static std::string num(double v) {
        char b[32];
        std::snprintf(b, sizeof b, "%.1f", v);
        return b;
    }

private:
    static std::string escape(const std::string& s) {
        std::string r;
        for (char c : s) {
            if (c == '&') r += "&amp;";
            else if (c == '<') r += "&lt;";
            else if (c == '>') r += "&gt;";
            else r += c;
        }
        return r;
    }
    int w_, h_;
    std::string body_;
};

}  // namespace qint8::chart
