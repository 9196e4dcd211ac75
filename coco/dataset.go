package coco

// Dataset is a COCO object-detection document.
type Dataset struct {
	Info        Info         `json:"info"`
	Licenses    []License    `json:"licenses"`
	Images      []Image      `json:"images"`
	Categories  []Category   `json:"categories"`
	Annotations []Annotation `json:"annotations"`
}

// Info describes the dataset.
type Info struct {
	Description string `json:"description"`
	Version     string `json:"version"`
	Year        int    `json:"year"`
	Contributor string `json:"contributor"`
	DateCreated string `json:"date_created"`
}

// License is a COCO license entry.
type License struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Image is one 2D image; radmark names it by its SOP Instance UID (and
// frame for multi-frame images).
type Image struct {
	ID       int    `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	// DICOM references, so a pipeline can go back to the source.
	StudyUID  string `json:"dicom_study_uid"`
	SeriesUID string `json:"dicom_series_uid"`
	SOPUID    string `json:"dicom_sop_instance_uid"`
	Frame     int    `json:"dicom_frame,omitempty"`
}

// Category is a label; Code is its coded concept ("SCHEME:VALUE").
type Category struct {
	ID            int      `json:"id"`
	Name          string   `json:"name"`
	Supercategory string   `json:"supercategory"`
	Keypoints     []string `json:"keypoints,omitempty"`
	Skeleton      [][2]int `json:"skeleton,omitempty"`
	Label         string   `json:"radmark_label"`
	Code          string   `json:"code,omitempty"`
	CodeMeaning   string   `json:"code_meaning,omitempty"`
}

// Annotation is one object. Segmentation is a polygon list
// ([][]float64) or an RLE; Keypoints are x, y, visibility triples.
type Annotation struct {
	ID           int        `json:"id"`
	ImageID      int        `json:"image_id"`
	CategoryID   int        `json:"category_id"`
	Segmentation any        `json:"segmentation,omitempty"`
	Area         float64    `json:"area"`
	BBox         [4]float64 `json:"bbox"`
	IsCrowd      int        `json:"iscrowd"`
	Keypoints    []float64  `json:"keypoints,omitempty"`
	NumKeypoints int        `json:"num_keypoints,omitempty"`
	Item         string     `json:"radmark_item"`
}
