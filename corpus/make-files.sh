#!/bin/sh
# Regenerates corpus/files/*.jpeg, corpus/files/addressProofDocument.pdf and
# corpus/verification-result.pdf.  Needs Debian's imagemagick (real one in
# /usr/bin, NOT /usr/local/bin/convert), fonts-dejavu-core, and PyPI reportlab.
# Usage: sh corpus/make-files.sh   (from the repository root)
set -eu
IM=/usr/bin/convert
cd "$(dirname "$0")"
F=files
mkdir -p "$F"
FONT=DejaVu-Sans
MONO=DejaVu-Sans-Mono
OUT="-strip -sampling-factor 4:2:0 -interlace none -quality 70"

# face <out> <bg-top> <bg-bottom> <skin> <hair> <shirt> <w> <h>
face() {
  out=$1; bg1=$2; bg2=$3; skin=$4; hair=$5; shirt=$6; w=$7; h=$8
  cx=$((w / 2)); cy=$((h * 45 / 100)); rx=$((w * 27 / 100)); ry=$((h * 28 / 100))
  $IM -size "${w}x${h}" "gradient:${bg1}-${bg2}" \
    -fill "$shirt" -draw "ellipse $cx,$h $((w * 48 / 100)),$((h * 22 / 100)) 180,360" \
    -fill "$skin"  -draw "rectangle $((cx - rx / 3)),$((cy + ry / 2)) $((cx + rx / 3)),$((h * 85 / 100))" \
    -fill "$hair"  -draw "ellipse $cx,$((cy - ry / 6)) $((rx + 4)),$((ry + 5)) 0,360" \
    -fill "$skin"  -draw "ellipse $cx,$cy $rx,$ry 0,360" \
    -fill "$hair"  -draw "ellipse $cx,$((cy - ry * 3 / 4)) $rx,$((ry / 3)) 180,360" \
    -fill '#2a2a2a' -draw "ellipse $((cx - rx * 2 / 5)),$((cy - ry / 8)) 3,2 0,360" \
                    -draw "ellipse $((cx + rx * 2 / 5)),$((cy - ry / 8)) 3,2 0,360" \
    -fill none -stroke '#a0614f' -strokewidth 1.5 \
      -draw "arc $((cx - rx / 3)),$((cy + ry / 4)) $((cx + rx / 3)),$((cy + ry / 2)) 20,160" \
    -stroke '#b98a6c' -strokewidth 1 -draw "line $cx,$cy $((cx - 2)),$((cy + ry / 5))" \
    $OUT "$F/$out"
}

# small portrait used inside document images: <x0> <y0> <x1> <y1> <skin> <hair>
portrait() {
  x0=$1; y0=$2; x1=$3; y1=$4; skin=$5; hair=$6
  pcx=$(((x0 + x1) / 2)); pw=$((x1 - x0)); ph=$((y1 - y0))
  echo "-fill '#dfe5ea' -draw \"rectangle $x0,$y0 $x1,$y1\"" \
       "-fill '#44505c' -draw \"ellipse $pcx,$y1 $((pw * 45 / 100)),$((ph * 25 / 100)) 180,360\"" \
       "-fill '$hair' -draw \"ellipse $pcx,$((y0 + ph * 40 / 100)) $((pw * 30 / 100)),$((ph * 32 / 100)) 0,360\"" \
       "-fill '$skin' -draw \"ellipse $pcx,$((y0 + ph * 45 / 100)) $((pw * 25 / 100)),$((ph * 28 / 100)) 0,360\""
}

# --- Document 1: passport (PP, ISL) ------------------------------------------
face livenessFaceImage.jpeg '#e9edf2' '#9aa9b9' '#e2b592' '#4a3426' '#2f4f6f' 96 128
face faceImage.jpeg         '#f4f4f4' '#c9d3dc' '#ddb08c' '#4a3426' '#39424d' 72 96

eval "$IM -size 160x112 gradient:'#f3ead8'-'#d9e6ee' \
  -fill '#7a1f2b' -draw 'rectangle 0,0 159,13' \
  -font $FONT-Bold -pointsize 8 -fill white -draw \"text 5,10 'PASSPORT  ISL'\" \
  $(portrait 6 18 50 74 '#ddb08c' '#4a3426') \
  -fill '#6d7a88' -draw 'rectangle 58,20 110,23' -draw 'rectangle 58,30 130,33' \
                  -draw 'rectangle 58,40 100,43' -draw 'rectangle 58,50 140,53' \
                  -draw 'rectangle 58,60 96,63'  -draw 'rectangle 58,70 122,73' \
  -fill '#ffffff' -draw 'rectangle 0,82 159,111' \
  -font $MONO -pointsize 7 -fill '#202020' \
  -draw \"text 3,93 'P<ISLDOE<<JANE<EXAMPLE<<<<<<<<<<<'\" \
  -draw \"text 3,104 'A12345671ISL6412304F2608151<<<<<<'\" \
  $OUT $F/croppedFrontImage.jpeg"

$IM -size 160x112 gradient:'#e6eef3'-'#f2ead9' \
  -fill '#c9b8d6' -draw 'circle 80,56 80,20' \
  -fill '#9aa8b6' -draw 'rectangle 10,14 150,16' -draw 'rectangle 10,26 150,28' \
                  -draw 'rectangle 10,38 120,40' \
  -fill '#7a1f2b' -draw 'rectangle 112,76 150,100' \
  -font $FONT -pointsize 6 -fill '#404040' -draw "text 10,96 'OBSERVATIONS'" \
  $OUT $F/croppedBackImage.jpeg

# --- Document 2: driving licence (DL, DEU) -----------------------------------
face faceImage2.jpeg '#eef3f7' '#b5c4d1' '#e6bc9a' '#5a3d2b' '#6b2d3a' 72 96

eval "$IM -size 160x101 gradient:'#f6d8e3'-'#e1ecf5' \
  -fill '#1d3f8f' -draw 'rectangle 5,6 20,22' \
  -font $FONT-Bold -pointsize 7 -fill white -draw \"text 8,18 'D'\" \
  -font $FONT-Bold -pointsize 7 -fill '#1d3f8f' -draw \"text 26,13 'FÜHRERSCHEIN'\" \
  $(portrait 6 28 46 84 '#e6bc9a' '#5a3d2b') \
  -font $FONT -pointsize 6 -fill '#303030' \
  -draw \"text 52,34 '1. Doe'\" -draw \"text 52,43 '2. Jane Example'\" \
  -draw \"text 52,52 '3. 30.12.64'\" -draw \"text 52,61 '4a. 04.05.16  4b. 04.05.31'\" \
  -draw \"text 52,70 '5. B072RRE2I55'\" -draw \"text 52,88 '9. AM/B/BE'\" \
  -fill '#5a5a5a' -draw 'rectangle 52,74 92,78' \
  $OUT $F/croppedFrontImage2.jpeg"

$IM -size 160x101 gradient:'#e1ecf5'-'#f6d8e3' \
  -stroke '#8d9aa8' -strokewidth 1 \
  -draw 'line 4,8 156,8' -draw 'line 4,22 156,22' -draw 'line 4,36 156,36' \
  -draw 'line 4,50 156,50' -draw 'line 4,64 156,64' -draw 'line 30,8 30,64' \
  -draw 'line 70,8 70,64' -draw 'line 110,8 110,64' -stroke none \
  -font $FONT -pointsize 6 -fill '#303030' \
  -draw "text 8,18 'AM'" -draw "text 34,18 '14.03.83'" -draw "text 74,18 '04.05.31'" \
  -draw "text 8,32 'B'"  -draw "text 34,32 '14.03.83'" -draw "text 74,32 '04.05.31'" -draw "text 114,32 '01.06'" \
  -draw "text 8,46 'BE'" -draw "text 34,46 '04.05.01'" -draw "text 74,46 '04.05.31'" -draw "text 114,46 '79.06'" \
  -fill '#222222' -draw 'rectangle 10,74 150,94' \
  -fill '#f0f0f0' -draw 'rectangle 14,77 146,91' \
  -fill '#222222' -draw 'rectangle 18,79 19,89' -draw 'rectangle 22,79 25,89' \
                  -draw 'rectangle 28,79 29,89' -draw 'rectangle 33,79 36,89' \
                  -draw 'rectangle 40,79 41,89' -draw 'rectangle 44,79 45,89' \
                  -draw 'rectangle 49,79 53,89' -draw 'rectangle 57,79 58,89' \
                  -draw 'rectangle 62,79 64,89' -draw 'rectangle 68,79 69,89' \
                  -draw 'rectangle 73,79 76,89' -draw 'rectangle 80,79 81,89' \
                  -draw 'rectangle 85,79 87,89' -draw 'rectangle 91,79 92,89' \
                  -draw 'rectangle 96,79 99,89' -draw 'rectangle 103,79 104,89' \
                  -draw 'rectangle 108,79 110,89' -draw 'rectangle 114,79 115,89' \
                  -draw 'rectangle 119,79 122,89' -draw 'rectangle 126,79 127,89' \
                  -draw 'rectangle 131,79 133,89' -draw 'rectangle 137,79 138,89' \
                  -draw 'rectangle 141,79 142,89' \
  $OUT $F/croppedBackImage2.jpeg

# --- Document 3: national identity card (NID, DEU) ---------------------------
face faceImage3.jpeg '#f7f3ea' '#c8c2b4' '#d9a985' '#3b2a1e' '#2e5a46' 72 96

eval "$IM -size 160x101 gradient:'#dfeee4'-'#f1e4ef' \
  -font $FONT-Bold -pointsize 6 -fill '#2b3a55' \
  -draw \"text 6,10 'BUNDESREPUBLIK DEUTSCHLAND'\" \
  -font $MONO -pointsize 7 -fill '#b0202a' -draw \"text 118,22 'L01X00T71'\" \
  $(portrait 6 16 48 76 '#d9a985' '#3b2a1e') \
  -font $FONT -pointsize 6 -fill '#303030' \
  -draw \"text 54,24 'DOE'\" -draw \"text 54,34 'JANE EXAMPLE'\" \
  -draw \"text 54,44 '30.12.1964   DEUTSCH'\" -draw \"text 54,54 'BERLIN'\" \
  -draw \"text 54,64 '10.02.2029'\" \
  -fill '#7c8a9a' -draw 'rectangle 54,70 120,72' -draw 'rectangle 54,76 100,78' \
  -fill '#c8a2c8' -draw 'circle 140,84 140,72' \
  $OUT $F/croppedFrontImage3.jpeg"

$IM -size 160x101 gradient:'#f1e4ef'-'#dfeee4' \
  -font $FONT -pointsize 6 -fill '#303030' \
  -draw "text 6,12 'MUSTERSTRASSE 12'" -draw "text 6,21 '10115 BERLIN'" \
  -draw "text 6,32 'GRÜN  172 cm'" -draw "text 100,12 '11.02.2019'" \
  -draw "text 100,21 'STADT BERLIN'" \
  -fill '#ffffff' -draw 'rectangle 0,58 159,100' \
  -font $MONO -pointsize 6 -fill '#202020' \
  -draw "text 3,69 'IDD<<L01X00T716<<<<<<<<<<<<<<<'" \
  -draw "text 3,80 '6412308<2902100D<<<<<<<<<<<<<6'" \
  -draw "text 3,91 'DOE<<JANE<EXAMPLE<<<<<<<<<<<<<'" \
  $OUT $F/croppedBackImage3.jpeg

# --- PDFs (reportlab from PyPI) ----------------------------------------------
python3 make-pdfs.py
